"""EWA projection of 3D Gaussians and SH colour evaluation, differentiable, in plain torch.

Semantics follow gsplat 1.5.3's fused CUDA projection (``ProjectionEWA3DGSFused.cu`` +
``persp_proj`` in ``Utils.cuh``) for the pinhole camera, packed=False:

- camera-space mean ``R @ x + t``; near/far culling on the camera-space depth;
- Jacobian with gsplat's clamp of x/z and y/z to 1.3x the field of view;
- ``eps2d`` blur added to the 2D covariance; compensation ``sqrt(det_orig/det)`` computed
  only for ``rasterize_mode="antialiased"`` (and then multiplied into the opacity);
- Gaussians with (compensated) opacity < 1/255 are culled; opacity-aware radius
  ``ceil(min(3.33, sqrt(2 ln(255 * opacity))) * sqrt(cov2d_ii))`` per axis;
- ``radius_clip`` and "outside the image" culling with those radii.

Invalid entries have radii 0; their means2d/depths/conics are 0 (as gsplat's CUDA output).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ALPHA_THRESHOLD = 1.0 / 255.0


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """wxyz quaternions (not necessarily normalised) [..., 4] -> rotation matrices [..., 3, 3]."""
    q = F.normalize(quats, p=2, dim=-1)
    w, x, y, z = q.unbind(-1)
    R = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1)
    return R.reshape(q.shape[:-1] + (3, 3))


def covariance(quats: Tensor, scales: Tensor) -> Tensor:
    """Sigma = R S S^T R^T, [N, 3, 3]."""
    M = quat_to_rotmat(quats) * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def project(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor,
            viewmats: Tensor, Ks: Tensor, width: int, height: int,
            near_plane: float = 0.01, far_plane: float = 1e10, eps2d: float = 0.3,
            radius_clip: float = 0.0, antialiased: bool = False):
    """Returns radii [C,N,2] int32, means2d [C,N,2], depths [C,N], conics [C,N,3],
    opacities [C,N] (compensated when antialiased), valid [C,N] bool."""
    dtype = means.dtype
    Rw = viewmats[:, :3, :3]  # [C,3,3]
    tw = viewmats[:, :3, 3]   # [C,3]
    means_c = torch.einsum("cij,nj->cni", Rw, means) + tw[:, None, :]  # [C,N,3]
    cov = covariance(quats, scales)  # [N,3,3]
    cov_c = torch.einsum("cij,njk,clk->cnil", Rw, cov, Rw)  # [C,N,3,3]

    x, y, z = means_c.unbind(-1)  # [C,N]
    with torch.no_grad():
        depth_ok = (z >= near_plane) & (z <= far_plane)
    # keep the graph finite for culled entries (behind the camera, z == 0): their gradients are
    # zero, but 0 * inf in the backward pass would still give NaN
    zs = torch.where(depth_ok, z, torch.ones_like(z))
    xs = torch.where(depth_ok, x, torch.zeros_like(x))
    ys = torch.where(depth_ok, y, torch.zeros_like(y))

    fx = Ks[:, 0, 0, None]
    fy = Ks[:, 1, 1, None]
    cx = Ks[:, 0, 2, None]
    cy = Ks[:, 1, 2, None]
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    rz = 1.0 / zs
    tx = zs * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, xs * rz))
    ty = zs * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, ys * rz))
    rz2 = rz * rz
    # J = [[fx/z, 0, -fx tx/z^2], [0, fy/z, -fy ty/z^2]]
    j00 = fx * rz
    j02 = -fx * tx * rz2
    j11 = fy * rz
    j12 = -fy * ty * rz2
    S = cov_c
    s00, s01, s02 = S[..., 0, 0], S[..., 0, 1], S[..., 0, 2]
    s11, s12, s22 = S[..., 1, 1], S[..., 1, 2], S[..., 2, 2]
    s10, s20, s21 = S[..., 1, 0], S[..., 2, 0], S[..., 2, 1]
    # cov2d = J S J^T (J has two non-zero entries per row)
    a = j00 * (j00 * s00 + j02 * s20) + j02 * (j00 * s02 + j02 * s22)
    c = j11 * (j11 * s11 + j12 * s21) + j12 * (j11 * s12 + j12 * s22)
    b01 = j00 * (j11 * s01 + j12 * s02) + j02 * (j11 * s21 + j12 * s22)
    b10 = j11 * (j00 * s10 + j02 * s12) + j12 * (j00 * s20 + j02 * s22)
    b = 0.5 * (b01 + b10)
    det_orig = a * c - b * b
    a = a + eps2d
    c = c + eps2d
    det = a * c - b * b
    with torch.no_grad():
        det_ok = det > 0
    det_s = torch.where(det_ok, det, torch.ones_like(det))
    conics = torch.stack([c / det_s, -b / det_s, a / det_s], dim=-1)
    means2d = torch.stack([fx * xs * rz + cx, fy * ys * rz + cy], dim=-1)

    opac = opacities[None, :].expand(z.shape)
    if antialiased:
        comp = torch.sqrt(torch.clamp(det_orig / det_s, min=0.0))
        opac = opac * comp

    with torch.no_grad():
        op = opac.detach()
        op_ok = op >= ALPHA_THRESHOLD
        extend = torch.sqrt(2.0 * torch.log(torch.clamp(op, min=ALPHA_THRESHOLD) / ALPHA_THRESHOLD))
        extend = torch.clamp(extend, max=3.33)
        rx = torch.ceil(extend * torch.sqrt(a.detach().clamp(min=0)))
        ry = torch.ceil(extend * torch.sqrt(c.detach().clamp(min=0)))
        m2 = means2d.detach()
        valid = depth_ok & det_ok & op_ok
        valid &= ~((rx <= radius_clip) & (ry <= radius_clip))
        valid &= ~((m2[..., 0] + rx <= 0) | (m2[..., 0] - rx >= width)
                   | (m2[..., 1] + ry <= 0) | (m2[..., 1] - ry >= height))
        radii = torch.stack([rx, ry], -1).masked_fill(~valid[..., None], 0).to(torch.int32)

    vf = valid.to(dtype)
    means2d = means2d * vf[..., None]
    conics = conics * vf[..., None]
    depths = z * vf
    return radii, means2d, depths, conics, opac, valid, a.detach(), c.detach()


# --- spherical harmonics (gsplat's constants and basis order, degrees 0..3) -----------------------

def sh_to_color(sh_degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """dirs [..., 3] (unnormalised), coeffs [..., K, 3] -> [..., 3] (before the +0.5 / clamp)."""
    assert 0 <= sh_degree <= 3, "sh_degree must be 0..3"
    assert (sh_degree + 1) ** 2 <= coeffs.shape[-2], coeffs.shape
    out = 0.2820947917738781 * coeffs[..., 0, :]
    if sh_degree == 0:
        return out
    d = F.normalize(dirs, p=2, dim=-1)
    x, y, z = (t[..., None] for t in d.unbind(-1))
    fA = -0.48860251190292
    out = out + fA * y * coeffs[..., 1, :] - fA * z * coeffs[..., 2, :] + fA * x * coeffs[..., 3, :]
    if sh_degree == 1:
        return out
    z2 = z * z
    fB = -1.092548430592079 * z
    fA2 = 0.5462742152960395
    fC1 = x * x - y * y
    fS1 = 2 * x * y
    out = (out + fA2 * fS1 * coeffs[..., 4, :] + fB * y * coeffs[..., 5, :]
           + (0.9461746957575601 * z2 - 0.3153915652525201) * coeffs[..., 6, :]
           + fB * x * coeffs[..., 7, :] + fA2 * fC1 * coeffs[..., 8, :])
    if sh_degree == 2:
        return out
    fC = -2.285228997322329 * z2 + 0.4570457994644658
    fB3 = 1.445305721320277 * z
    fA3 = -0.5900435899266435
    fC2 = x * fC1 - y * fS1
    fS2 = x * fS1 + y * fC1
    out = (out + fA3 * fS2 * coeffs[..., 9, :] + fB3 * fS1 * coeffs[..., 10, :]
           + fC * y * coeffs[..., 11, :]
           + z * (1.865881662950577 * z2 - 1.119528997770346) * coeffs[..., 12, :]
           + fC * x * coeffs[..., 13, :] + fB3 * fC1 * coeffs[..., 14, :]
           + fA3 * fC2 * coeffs[..., 15, :])
    return out


def colors_from_sh(sh_degree: int, means: Tensor, coeffs: Tensor, viewmats: Tensor) -> Tensor:
    """[N,K,3] or [C,N,K,3] SH coefficients -> [C,N,3] colours, gsplat's clamp_min(x + 0.5, 0)."""
    campos = torch.linalg.inv(viewmats)[:, :3, 3]  # [C,3]
    dirs = means[None, :, :] - campos[:, None, :]  # [C,N,3]
    if coeffs.dim() == 3:
        coeffs = coeffs[None].expand(dirs.shape[0], *coeffs.shape)
    return torch.clamp_min(sh_to_color(sh_degree, dirs, coeffs) + 0.5, 0.0)
