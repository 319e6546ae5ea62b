"""Gaussians bound to the head mesh: per-triangle frames and the attribute vector -> world Gaussians.

Attribute vector per Gaussian (docs/interfaces.md), A = 14 + 3 * ((sh_degree + 1)^2 - 1):
    [offset 0:3 | quat 3:7 (wxyz, triangle-local) | log_scale 7:10 | opacity_logit 10 | sh_dc 11:14 | sh_rest]
World mean = surface point + R @ offset * k; world rotation = R (x) q_local; world scale = exp(log_s) * k,
with R the triangle's orthonormal frame [edge, bitangent, normal] and k its size (mean edge length
or sqrt of area).
"""
from __future__ import annotations

import math

import torch

from gasp.config import AvatarConfig

OFFSET = slice(0, 3)
QUAT = slice(3, 7)
LOG_SCALE = slice(7, 10)
OPACITY = 10
SH_DC = slice(11, 14)
SH_REST_START = 14
SH_C0 = 0.28209479177387814


def attribute_dim(sh_degree: int) -> int:
    return 14 + 3 * ((sh_degree + 1) ** 2 - 1)


def sh_degree_of(dim: int) -> int:
    """Inverse of attribute_dim; raises ValueError for a length that is no attribute layout."""
    k = (dim - 11) // 3
    deg = round(math.sqrt(k)) - 1
    if deg < 0 or attribute_dim(deg) != dim:
        raise ValueError(f"attribute vector of length {dim} matches no SH degree (14, 23, 38, 59)")
    return deg


def triangle_frames(verts: torch.Tensor, faces: torch.Tensor, scale_mode: str = "edge"):
    """verts (B,V,3), faces (F,3) -> R (B,F,3,3) with columns [edge, bitangent, normal]
    (orthonormal, det +1), k (B,F) the triangle size ("edge": mean edge length, "area": sqrt area)."""
    tri = verts[:, faces]                                              # (B,F,3,3)
    e0 = tri[:, :, 1] - tri[:, :, 0]
    e1 = tri[:, :, 2] - tri[:, :, 0]
    n = torch.linalg.cross(e0, e1)
    area2 = n.norm(dim=-1)
    t = e0 / e0.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n = n / area2[..., None].clamp_min(1e-12)
    b = torch.linalg.cross(n, t)
    R = torch.stack([t, b, n], -1)
    if scale_mode == "edge":
        k = (e0.norm(dim=-1) + e1.norm(dim=-1) + (tri[:, :, 2] - tri[:, :, 1]).norm(dim=-1)) / 3
    elif scale_mode == "area":
        k = torch.sqrt(0.5 * area2)
    else:
        raise ValueError(f"scale_mode must be 'edge' or 'area', got {scale_mode!r}")
    return R, k


def matrix_to_quat(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (...,3,3) -> unit quaternions (...,4) wxyz with w >= 0."""
    m = R
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = torch.stack([
        torch.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                     m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                     1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                     1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1)], -2)   # (...,4,4)
    # pick the numerically largest candidate (its defining diagonal term is the largest)
    best = torch.diagonal(cands, dim1=-2, dim2=-1).argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of wxyz quaternions (...,4) x (...,4) -> (...,4)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def gaussians_from_attributes(attrs: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, binding,
                              scale_mode: str = "edge"):
    """attrs (N,A) or (B,N,A), verts (B,V,3), faces (F,3), binding (gasp.model.head.uv.Binding) ->
    means (B,N,3), quats (B,N,4) wxyz unit, scales (B,N,3), opacities (B,N), colors (B,N,K,3) SH."""
    B = verts.shape[0]
    if attrs.dim() == 2:
        attrs = attrs.expand(B, *attrs.shape)
    deg = sh_degree_of(attrs.shape[-1])
    fid = binding.face_ids.to(verts.device)
    bary = binding.barys.to(verts)
    R, k = triangle_frames(verts, faces, scale_mode)
    q_face = matrix_to_quat(R)[:, fid]                                # per face, then per Gaussian
    R, k = R[:, fid], k[:, fid]                                       # (B,N,3,3), (B,N)
    tri = verts[:, faces[fid]]                                        # (B,N,3,3)
    origin = (bary[None, :, :, None] * tri).sum(2)
    means = origin + (R * attrs[..., None, OFFSET]).sum(-1) * k[..., None]
    q_local = attrs[..., QUAT] / attrs[..., QUAT].norm(dim=-1, keepdim=True).clamp_min(1e-12)
    quats = quat_multiply(q_face, q_local)
    scales = torch.exp(attrs[..., LOG_SCALE]) * k[..., None]
    opacities = torch.sigmoid(attrs[..., OPACITY])
    n_sh = (deg + 1) ** 2
    colors = torch.cat([attrs[..., None, SH_DC], attrs[..., SH_REST_START:].reshape(*attrs.shape[:-1], n_sh - 1, 3)], -2)
    return means, quats, scales, opacities, colors


def template_attributes(binding, cfg: AvatarConfig) -> torch.Tensor:
    """Initial attributes (N,A): on the surface, identity rotation, log-scale cfg.init_log_scale,
    opacity cfg.init_opacity, mid-grey colour (SH DC 0 = 0.5)."""
    n = len(binding)
    a = torch.zeros(n, attribute_dim(cfg.sh_degree))
    a[:, QUAT.start] = 1.0
    a[:, LOG_SCALE] = cfg.init_log_scale
    a[:, OPACITY] = math.log(cfg.init_opacity / (1 - cfg.init_opacity))
    return a
