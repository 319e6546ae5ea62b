"""The viewer page's data: an Avatar + a Motion -> avatar.json (manifest), avatar.bin, motion.bin (gzipped).

How the deformation reaches the browser: posed mesh vertices, with the binding applied in the page
(static/viewer.js, the same maths as gasp/model/gaussians.py gaussians_from_attributes). Per avatar the page
gets the Gaussians' triangle-local attributes and the neutral mesh of the bound triangles (int16 in
its bounding box); per motion the vertices that move (expression, jaw, neck) as a few principal
components (`motion_basis`: within 0.02 mm of the head model everywhere); per frame their
coefficients and the rigid head pose global_rt (translation about its mean, as `gasp animate`),
applied as the splat mesh's transform (exact: posing commutes with a rigid motion of the whole mesh). Avatars with the offset MLP also get its
weights and the per-frame condition [expr | jaw]; the page evaluates the MLP.

Arrays are little-endian, each starting at a multiple of 4 bytes; the manifest lists name ->
{offset, dtype, shape} per file ("f2" float16, "f4" float32, "i2" int16, "u2"/"u4" unsigned).
Colours are taken at SH degree 0 (colour = 0.5 + SH_C0 * f_dc, as gsplat evaluates it);
higher SH bands are not sent (the page shows the view-independent colour).

Sizes on the default head with the built-in 48-frame loop (measured): UV 128, 11,249 Gaussians:
avatar.bin 534 KB (423 KB gzipped for a fitted avatar), motion.bin 199 KB (5 components), 44 B per
frame; UV 512, 180,155 Gaussians: avatar.bin 6.7 MB, motion.bin 232 KB, 44 B per frame. Sending
posed Gaussians instead would cost 40 B per Gaussian per frame (450 KB per frame at UV 128).
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

import numpy as np
import torch

from gasp.camera import AVATAR_LOOK_TARGET
from gasp.config import SynthConfig
from gasp.model.fitted_avatar import Avatar, Motion
from gasp.model.gaussians import LOG_SCALE, OFFSET, OPACITY, QUAT, SH_C0, SH_DC

FORMAT = 1
QUANT_LEVELS = 65534  # int16 codes -32767..32767 span the neutral mesh's bounding box
MOTION_TOL = 2e-5     # metres: the largest vertex error the motion basis may leave (0.02 mm)


@dataclass
class Bundle:
    """The page's data: manifest (JSON-able dict), avatar.bin and motion.bin (uncompressed bytes)."""
    manifest: dict
    avatar_bin: bytes
    motion_bin: bytes

    def files(self) -> dict[str, bytes]:
        """{file name: bytes}: the binaries gzip-compressed (the page inflates them; any static server works)."""
        return {"avatar.json": (json.dumps(self.manifest, indent=1) + "\n").encode(),
                "avatar.bin.gz": gzip.compress(self.avatar_bin, mtime=0),
                "motion.bin.gz": gzip.compress(self.motion_bin, mtime=0)}


def builtin_motion(n_expr: int, frames: int = 48) -> Motion:
    """A smooth loop: expression components 0, 1, 2 one after another, then the jaw opens, while the
    head turns left and right (global yaw) and nods a little; starts and ends neutral."""
    t = np.arange(frames) / frames
    m = Motion.neutral(frames, n_expr)
    bump = lambda a, b: np.where((t >= a) & (t < b), np.sin(np.pi * (t - a) / (b - a)) ** 2, 0.0)  # noqa: E731
    for k in range(min(3, n_expr)):
        m.expr[:, k] = 1.5 * bump(k / 4, (k + 1) / 4)
    m.jaw[:, 0] = 0.3 * bump(3 / 4, 1.0)
    m.global_rt[:, 1] = np.radians(20.0) * np.sin(2 * np.pi * t)
    m.global_rt[:, 0] = np.radians(5.0) * np.sin(4 * np.pi * t)
    return m


def motion_basis(disp: np.ndarray, tol: float = MOTION_TOL):
    """disp (T,V,3) vertex displacements from the neutral mesh -> (dynamic (D,) the vertices that move,
    coeffs (T,K) float32, basis (K,D*3) float16-exact, max error in metres): the fewest principal
    components whose reconstruction coeffs @ basis (basis as float16) stays within `tol` everywhere.
    Expressions are linear in the head model's bases, so a few components carry a whole sequence."""
    dynamic = np.nonzero(np.abs(disp).max(axis=(0, 2)) > tol / 4)[0]
    x = disp[:, dynamic].reshape(len(disp), -1)
    if x.size == 0:
        return dynamic, np.zeros((len(disp), 0), np.float32), np.zeros((0, 0), np.float16), 0.0
    vt = np.linalg.svd(x, full_matrices=False)[2]

    def fit(k):
        basis = vt[:k].astype(np.float16)
        b = basis.astype(np.float64)
        coeffs = np.linalg.lstsq(b.T, x.T, rcond=None)[0].T.astype(np.float32)  # on the rounded basis
        return coeffs, basis, float(np.abs(coeffs.astype(np.float64) @ b - x).max())

    lo, hi = 1, len(vt)  # bisection: the error falls as components are added
    while lo < hi:
        mid = (lo + hi) // 2
        if fit(mid)[2] <= tol:
            hi = mid
        else:
            lo = mid + 1
    return (dynamic, *fit(lo))


class _Packer:
    """Concatenates arrays at 4-byte boundaries and records where each one is."""

    def __init__(self):
        self.parts, self.layout, self.size = [], {}, 0

    def add(self, name: str, a: np.ndarray, dtype: str) -> None:
        a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
        self.layout[name] = {"offset": self.size, "dtype": dtype, "shape": list(a.shape)}
        self.parts.append(a.tobytes())
        self.size += a.nbytes
        pad = -self.size % 4
        self.parts.append(b"\0" * pad)
        self.size += pad

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _index_dtype(n: int) -> str:
    return "u2" if n < 2 ** 16 else "u4"


@torch.no_grad()
def build_bundle(avatar: Avatar, motion: Motion, fps: float, motion_name: str, background=(1.0, 1.0, 1.0),
                 camera: dict | None = None) -> Bundle:
    """The page's data for `avatar` driven by `motion` (played at `fps`); `camera` the page's initial
    orbit {distance, focal_mm, pitch_deg, target}; background RGB in 0..1."""
    avatar = avatar.to("cpu")
    head, b = avatar.head, avatar.binding
    used_faces, face_of = torch.unique(b.face_ids, return_inverse=True)
    faces = head.faces[used_faces]
    used_verts, tri = torch.unique(faces, return_inverse=True)          # tri (F',3) into used_verts
    rest = avatar.verts(Motion.neutral(1, head.n_expr))[0, used_verts].numpy().astype(np.float64)
    still = Motion(motion.expr, motion.jaw, motion.neck, np.zeros_like(motion.global_rt))
    posed = avatar.verts(still)[:, used_verts].numpy().astype(np.float64)  # (T,V',3) without the rigid pose
    lo = rest.min(0)
    step = np.maximum(rest.max(0) - lo, 1e-6) / QUANT_LEVELS
    q_rest = np.rint((rest - lo) / step - QUANT_LEVELS / 2).astype(np.int16)
    rest = lo + (q_rest + QUANT_LEVELS / 2) * step                      # what the page decodes
    dynamic, coeffs, basis, err = motion_basis(posed - rest[None])

    attrs = avatar.attrs.numpy()
    rgb = np.maximum(attrs[:, SH_DC] * SH_C0 + 0.5, 0.0)
    opacity = 1.0 / (1.0 + np.exp(-attrs[:, OPACITY]))
    pa = _Packer()
    pa.add("face", face_of.numpy(), _index_dtype(len(faces)))
    pa.add("barys", b.barys.numpy(), "f2")
    pa.add("offset", attrs[:, OFFSET], "f2")
    pa.add("quat", attrs[:, QUAT], "f2")                               # wxyz, triangle-local, unnormalised
    pa.add("log_scale", attrs[:, LOG_SCALE], "f2")
    pa.add("opacity", opacity, "f2")
    pa.add("rgb", rgb, "f2")
    pa.add("faces", tri.numpy(), _index_dtype(len(used_verts)))
    pa.add("rest", q_rest, "i2")
    mlp = None
    if avatar.mlp is not None:
        pa.add("uv", b.uv.numpy(), "f4")
        state = avatar.mlp.state_dict()
        for k, v in state.items():
            pa.add(f"mlp.{k}", v.numpy(), "f4")
        mlp = {**avatar.mlp.arch(), "params": list(state)}

    pm = _Packer()
    pm.add("dynamic", dynamic, _index_dtype(len(used_verts)))
    pm.add("basis", basis, "f2")
    pm.add("coeffs", coeffs, "f4")
    pm.add("global_rt", motion.centred().global_rt, "f4")  # as gasp animate
    if avatar.mlp is not None:
        pm.add("cond", np.concatenate([motion.expr, motion.jaw], axis=1), "f4")

    synth = SynthConfig()  # the dataset camera by default, aimed as the turntables (gasp/camera.py)
    cam = {"distance": synth.camera_distance, "focal_mm": synth.focal_mm, "pitch_deg": 5.0,
           "target": list(AVATAR_LOOK_TARGET), **(camera or {})}
    manifest = {
        "format": FORMAT, "n_gaussians": avatar.n_gaussians, "n_faces": len(faces), "n_verts": len(used_verts),
        "n_dynamic": int(len(dynamic)), "n_basis": len(basis), "motion_max_error_m": err,
        "n_frames": len(motion), "fps": float(fps), "motion": motion_name,
        "scale_mode": avatar.avatar_cfg.scale_mode, "sh_degree": avatar.avatar_cfg.sh_degree,
        "quant": {"lo": lo.tolist(), "step": step.tolist(), "center": QUANT_LEVELS / 2},
        "mlp": mlp, "background": [float(c) for c in background], "camera": cam,
        "method": avatar.meta.get("method"), "subject": avatar.meta.get("subject"),
        "avatar_bin": pa.layout, "motion_bin": pm.layout,
        "bytes": {"avatar": pa.size, "motion": pm.size,
                  "per_frame": 4 * len(basis) + 24 + (0 if mlp is None else 4 * (head.n_expr + 3))},
    }
    return Bundle(manifest, pa.bytes(), pm.bytes())
