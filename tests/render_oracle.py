"""Brute-force per-pixel float64 oracle of gsplat 1.5.3's rasterization (packed=False, pinhole,
classic), written independently of gasp.model.render: loops over Gaussians in depth order and updates
every pixel of the image at each step. Differentiable by autograd (torch.where masks)."""
from __future__ import annotations

import math

import torch

THR = 1.0 / 255.0


def _rotmat(q):
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def oracle_rasterize(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                     near_plane=0.01, far_plane=1e10, eps2d=0.3, sh_degree=None,
                     backgrounds=None, render_mode="RGB", tile_size=16):
    """Returns (colors [C,H,W,D], alphas [C,H,W,1]). colors: [N,D] plain (sh_degree None)."""
    assert sh_degree is None
    C = viewmats.shape[0]
    outs, alphas = [], []
    ys, xs = torch.meshgrid(torch.arange(height, dtype=means.dtype) + 0.5,
                            torch.arange(width, dtype=means.dtype) + 0.5, indexing="ij")
    tile_x = (torch.arange(width) // tile_size).reshape(1, -1).expand(height, width)
    tile_y = (torch.arange(height) // tile_size).reshape(-1, 1).expand(height, width)
    tw, th = math.ceil(width / tile_size), math.ceil(height / tile_size)
    for ci in range(C):
        Rw, t = viewmats[ci, :3, :3], viewmats[ci, :3, 3]
        fx, fy, cx, cy = Ks[ci, 0, 0], Ks[ci, 1, 1], Ks[ci, 0, 2], Ks[ci, 1, 2]
        pc = means @ Rw.T + t
        M = _rotmat(quats) * scales[:, None, :]
        Sig = Rw @ (M @ M.transpose(1, 2)) @ Rw.T
        cols = colors if colors.dim() == 2 else colors[ci]
        if render_mode in ("RGB+ED", "RGB+D"):
            cols = torch.cat([cols, pc[:, 2:3]], -1)
        D = cols.shape[-1]
        img = torch.zeros(height, width, D, dtype=means.dtype)
        T = torch.ones(height, width, dtype=means.dtype)
        done = torch.zeros(height, width, dtype=torch.bool)
        order = torch.argsort(pc[:, 2].detach().float(), stable=True)
        for g in order.tolist():
            x, y, z = pc[g]
            zf = float(z.detach())
            if not (near_plane <= zf <= far_plane):
                continue
            tx = z * torch.clamp(x / z, -(cx / fx + 0.3 * 0.5 * width / fx),
                                 (width - cx) / fx + 0.3 * 0.5 * width / fx)
            ty = z * torch.clamp(y / z, -(cy / fy + 0.3 * 0.5 * height / fy),
                                 (height - cy) / fy + 0.3 * 0.5 * height / fy)
            zero = torch.zeros((), dtype=means.dtype)
            J = torch.stack([torch.stack([fx / z, zero, -fx * tx / z ** 2]),
                             torch.stack([zero, fy / z, -fy * ty / z ** 2])])
            cov = J @ Sig[g] @ J.T + eps2d * torch.eye(2, dtype=means.dtype)
            det = cov[0, 0] * cov[1, 1] - cov[0, 1] * cov[1, 0]
            if float(det.detach()) <= 0:
                continue
            ca, cb, cc = cov[1, 1] / det, -0.5 * (cov[0, 1] + cov[1, 0]) / det, cov[0, 0] / det
            mx, my = fx * x / z + cx, fy * y / z + cy
            mxf, myf = float(mx.detach()), float(my.detach())
            op = float(opacities[g].detach())
            if op < THR:
                continue
            ext = min(3.33, math.sqrt(2 * math.log(op / THR)))
            rx = math.ceil(ext * math.sqrt(float(cov[0, 0].detach())))
            ry = math.ceil(ext * math.sqrt(float(cov[1, 1].detach())))
            if rx <= 0 and ry <= 0:
                continue
            if mxf + rx <= 0 or mxf - rx >= width or myf + ry <= 0 or myf - ry >= height:
                continue
            # gsplat's tile range
            t0x = min(max(math.floor(mxf / tile_size - rx / tile_size), 0), tw)
            t1x = min(max(math.ceil(mxf / tile_size + rx / tile_size), 0), tw)
            t0y = min(max(math.floor(myf / tile_size - ry / tile_size), 0), th)
            t1y = min(max(math.ceil(myf / tile_size + ry / tile_size), 0), th)
            intile = (tile_x >= t0x) & (tile_x < t1x) & (tile_y >= t0y) & (tile_y < t1y)
            dx, dy = mx - xs, my - ys
            sigma = 0.5 * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
            alpha = torch.clamp_max(opacities[g] * torch.exp(-sigma), 0.999)
            ok = intile & ~done & (sigma >= 0) & (alpha >= THR)
            nT = T * (1 - alpha)
            stop = ok & (nT <= 1e-4)
            done = done | stop
            ok = ok & ~stop
            img = img + torch.where(ok[..., None], (alpha * T)[..., None] * cols[g], 0.0)
            T = torch.where(ok, nT, T)
        acc = 1 - T
        if backgrounds is not None:
            bg = backgrounds[ci]
            if render_mode in ("RGB+ED", "RGB+D"):
                bg = torch.cat([bg, bg.new_zeros(1)])
            img = img + bg * T[..., None]
        if render_mode == "RGB+ED":
            img = torch.cat([img[..., :-1], img[..., -1:] / acc[..., None].clamp(min=1e-10)], -1)
        outs.append(img)
        alphas.append(acc[..., None])
    return torch.stack(outs), torch.stack(alphas)
