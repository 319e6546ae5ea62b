"""`HeadModel`: a FLAME-like linear head model in torch (blendshapes + linear blend skinning).

Both the procedural head (procedural.py) and a user-provided FLAME-format file (flame.py) produce
the same arrays, so everything downstream sees one interface (docs/interfaces.md):

    v_shaped = template + shapedirs . shape + exprdirs . expr
    J        = J_regressor @ v_shaped                       joints: root, neck, jaw, eye_l, eye_r
    v_posed  = v_shaped + posedirs . (R_j - I)_{j>=1}       pose correctives (zero for our head)
    v        = sum_k w_k G_k v_posed                        LBS; root and eyes stay at rest
    out      = R(global_rt[:3]) v + global_rt[3:]           global rotation about the origin, last
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

REGIONS = ("face", "scalp", "ears", "neck", "eyes", "lips", "brows", "mouth")
JOINTS = ("root", "neck", "jaw", "eye_l", "eye_r")
PARENTS = (-1, 0, 1, 1, 1)


def axis_angle_to_matrix(rvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues. rvec: (..., 3) -> (..., 3, 3); smooth (and differentiable) at zero."""
    theta2 = (rvec * rvec).sum(-1, keepdim=True)[..., None]           # (...,1,1)
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta * theta))
    x, y, z = rvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


@dataclass
class HeadArrays:
    """Plain numpy description of a head model (what files store and builders produce).

    template (V,3); faces (F,3); uvs (T,2); uv_faces (F,3); face_regions (F,) indexes `regions`;
    shapedirs (V,3,S); exprdirs (V,3,E); posedirs (V,3,9*(J-1)); J_regressor (J,V); weights (V,J);
    parents (J,); landmarks: name -> (face_id, bary (3,)).
    """
    template: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    uv_faces: np.ndarray
    face_regions: np.ndarray
    shapedirs: np.ndarray
    exprdirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    regions: tuple = REGIONS
    landmarks: dict = field(default_factory=dict)


class HeadModel(torch.nn.Module):
    """The head model of docs/interfaces.md. All tensors float32 buffers (move with `.to()`)."""

    def __init__(self, arrays: HeadArrays):
        super().__init__()
        a = arrays
        f32 = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float32))  # noqa: E731
        self.register_buffer("template", f32(a.template))
        self.register_buffer("faces", torch.as_tensor(np.asarray(a.faces, dtype=np.int64)))
        self.register_buffer("uvs", f32(a.uvs))
        self.register_buffer("uv_faces", torch.as_tensor(np.asarray(a.uv_faces, dtype=np.int64)))
        self.register_buffer("face_regions", torch.as_tensor(np.asarray(a.face_regions, dtype=np.int64)))
        self.register_buffer("shapedirs", f32(a.shapedirs))
        self.register_buffer("exprdirs", f32(a.exprdirs))
        self.register_buffer("posedirs", f32(a.posedirs).reshape(-1, a.posedirs.shape[-1]).T.contiguous())
        self.register_buffer("J_regressor", f32(a.J_regressor))
        # joints are linear in the coefficients: regress the template and each basis once
        jreg = np.asarray(a.J_regressor, dtype=np.float64)
        self.register_buffer("_joints_template", f32(jreg @ a.template), persistent=False)
        self.register_buffer("_joints_shape", f32(np.einsum("jv,vck->kjc", jreg, a.shapedirs).reshape(
            a.shapedirs.shape[-1], -1)), persistent=False)
        self.register_buffer("_joints_expr", f32(np.einsum("jv,vck->kjc", jreg, a.exprdirs).reshape(
            a.exprdirs.shape[-1], -1)), persistent=False)
        self.register_buffer("weights", f32(a.weights))
        self.parents = tuple(int(p) for p in a.parents)
        self.regions = tuple(a.regions)
        self.landmarks = {k: (int(f), np.asarray(b, dtype=np.float64)) for k, (f, b) in a.landmarks.items()}
        self._pose_correctives = bool(np.any(a.posedirs))

    REGIONS = REGIONS

    @property
    def n_shape(self) -> int:
        return self.shapedirs.shape[-1]

    @property
    def n_expr(self) -> int:
        return self.exprdirs.shape[-1]

    def region_id(self, name: str) -> int:
        return self.regions.index(name)

    def zeros(self, batch: int = 1) -> dict[str, torch.Tensor]:
        """Neutral parameters for `verts(**model.zeros(B))`."""
        z = lambda n: torch.zeros(batch, n, dtype=self.template.dtype, device=self.template.device)  # noqa: E731
        return {"shape": z(self.n_shape), "expr": z(self.n_expr), "jaw": z(3), "neck": z(3), "global_rt": z(6)}

    def verts(self, shape: torch.Tensor, expr: torch.Tensor, jaw: torch.Tensor, neck: torch.Tensor,
              global_rt: torch.Tensor, vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        """shape (B,S), expr (B,E), jaw (B,3), neck (B,3), global_rt (B,6) -> verts (B,V,3).

        vertex_ids (V',): only these vertices -> (B,V',3) (the joints still come from the whole mesh),
        e.g. the few hundred a landmark fit needs instead of all.
        """
        B = shape.shape[0]
        sel = slice(None) if vertex_ids is None else vertex_ids
        template, shapedirs, exprdirs = self.template[sel], self.shapedirs[sel], self.exprdirs[sel]
        weights = self.weights[sel]
        V = template.shape[0]
        v = (template + (shape @ shapedirs.reshape(V * 3, -1).T).reshape(B, V, 3)
             + (expr @ exprdirs.reshape(V * 3, -1).T).reshape(B, V, 3))
        joints = self._joints_template + (shape @ self._joints_shape + expr @ self._joints_expr).reshape(B, -1, 3)
        J = joints.shape[1]
        rot = torch.eye(3, dtype=v.dtype, device=v.device).repeat(B, J, 1, 1)
        rot = torch.cat([rot[:, :1], axis_angle_to_matrix(neck)[:, None], axis_angle_to_matrix(jaw)[:, None],
                         rot[:, 3:]], 1)                                                # (B,J,3,3)
        if self._pose_correctives:
            eye = torch.eye(3, dtype=v.dtype, device=v.device)
            posedirs = self.posedirs.reshape(-1, self.template.shape[0], 3)[:, sel].reshape(self.posedirs.shape[0], -1)
            v = v + ((rot[:, 1:] - eye).reshape(B, -1) @ posedirs).reshape(B, -1, 3)
        # forward kinematics: world rotation/translation of each joint (rest joints as pivots)
        g_rot, g_t = [], []
        for j in range(J):
            p = self.parents[j]
            local_t = joints[:, j] - (rot[:, j] @ joints[:, j, :, None])[..., 0]        # rotate about joint j
            if p < 0:
                g_rot.append(rot[:, j])
                g_t.append(local_t)
            else:
                g_rot.append(g_rot[p] @ rot[:, j])
                g_t.append((g_rot[p] @ local_t[..., None])[..., 0] + g_t[p])
        # the global rotation is folded into the J joint transforms, not applied to all V vertices
        r_glob = axis_angle_to_matrix(global_rt[:, :3])[:, None]                          # (B,1,3,3)
        g_rot = r_glob @ torch.stack(g_rot, 1)                                          # (B,J,3,3)
        g_t = (r_glob @ torch.stack(g_t, 1)[..., None])[..., 0] + global_rt[:, None, 3:]  # (B,J,3)
        # per-vertex affine, columns first: M v = M[:, 0] v_x + M[:, 1] v_y + M[:, 2] v_z
        g = torch.cat([g_rot.transpose(-1, -2).reshape(B, J, 9), g_t], -1)              # (B,J,12)
        blend = (weights @ g).reshape(B, V, 4, 3)
        return (blend[:, :, 0] * v[..., 0:1] + blend[:, :, 1] * v[..., 1:2] + blend[:, :, 2] * v[..., 2:3]
                + blend[:, :, 3])

    def landmark_points(self, verts: torch.Tensor) -> dict[str, torch.Tensor]:
        """verts (B,V,3) -> {name: (B,3)} surface points of the named landmarks."""
        out = {}
        for name, (f, bary) in self.landmarks.items():
            tri = verts[:, self.faces[f]]                                                # (B,3,3)
            out[name] = (torch.as_tensor(bary, dtype=verts.dtype, device=verts.device)[None, :, None] * tri).sum(1)
        return out

    def to_numpy(self, verts: torch.Tensor | None = None) -> dict[str, np.ndarray]:
        """Arrays for Blender (no bpy here): verts (V,3) (template if None), faces (F,3), uvs (T,2),
        uv_faces (F,3), regions (F,) and region_names."""
        v = self.template if verts is None else verts
        return {"verts": v.detach().cpu().numpy().astype(np.float32),
                "faces": self.faces.cpu().numpy().astype(np.int32),
                "uvs": self.uvs.cpu().numpy().astype(np.float32),
                "uv_faces": self.uv_faces.cpu().numpy().astype(np.int32),
                "regions": self.face_regions.cpu().numpy().astype(np.int32),
                "region_names": np.array(self.regions)}
