"""The public rasterize() with gsplat.rasterization's argument and return conventions."""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ._projection import colors_from_sh, project
from ._raster import Composite, search

RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")


def rasterize(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] wxyz
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [(C,) N, D] or SH [(C,) N, K, 3]
    viewmats: Tensor,  # [C, 4, 4] world-to-camera (OpenCV)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: Optional[int] = None,
    packed: bool = False,
    tile_size: int = 16,
    backgrounds: Optional[Tensor] = None,  # [C, D]
    render_mode: str = "RGB",
    rasterize_mode: str = "classic",
    **gsplat_kwargs,
) -> Tuple[Tensor, Tensor, Dict]:
    """Render C images of N Gaussians: ``(colors [C,H,W,D'], alphas [C,H,W,1], meta)``.

    Semantics of ``gsplat.rasterization(..., packed=False)`` (gsplat 1.5.3), pinhole cameras:
    ``colors`` are post-activation values [N,D] / [C,N,D], or SH coefficients [N,K,3] / [C,N,K,3]
    when ``sh_degree`` is 0..3 (colour = max(SH + 0.5, 0)); ``render_mode`` "RGB" or "RGB+ED"
    (also "D", "ED", "RGB+D"): the depth channel is appended, and "ED" divides the accumulated
    depth by the alpha (clamped at 1e-10); ``backgrounds`` [C,D] are composited with (1 - alpha).

    ``meta`` holds at least radii [C,N,2], means2d [C,N,2] (in the graph: ``retain_grad()`` works),
    depths [C,N], conics [C,N,3], opacities [C,N], width, height, tile_size, tile_width,
    tile_height, n_cameras, n_batches.
    """
    assert render_mode in RENDER_MODES, render_mode
    assert rasterize_mode in ("classic", "antialiased"), rasterize_mode
    if means.is_cuda:
        import gsplat

        return gsplat.rasterization(
            means, quats, scales, opacities, colors, viewmats, Ks, width, height,
            near_plane=near_plane, far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d,
            sh_degree=sh_degree, packed=packed, tile_size=tile_size, backgrounds=backgrounds,
            render_mode=render_mode, rasterize_mode=rasterize_mode, **gsplat_kwargs,
        )
    if packed:
        raise NotImplementedError("the CPU backend implements packed=False only")
    unsupported = {k: v for k, v in gsplat_kwargs.items()
                   if v not in (None, False) and not (k == "camera_model" and v == "pinhole")
                   and k not in ("channel_chunk", "sparse_grad", "absgrad")}
    if unsupported:
        raise NotImplementedError(f"CPU backend does not support {sorted(unsupported)}")
    return _rasterize_cpu(means, quats, scales, opacities, colors, viewmats, Ks, int(width),
                          int(height), near_plane, far_plane, radius_clip, eps2d, sh_degree,
                          tile_size, backgrounds, render_mode, rasterize_mode)


def render_nograd(*args, **kwargs) -> Tuple[Tensor, Tensor, Dict]:
    """rasterize() without autograd: the fast path for evaluation and turntable rendering
    (on CPU it composites while it searches and keeps no per-pair lists)."""
    with torch.no_grad():
        return rasterize(*args, **kwargs)


def _check_shapes(means, quats, scales, opacities, colors, viewmats, Ks, sh_degree):
    N = means.shape[0]
    C = viewmats.shape[0]
    assert means.dim() == 2 and means.shape == (N, 3), \
        f"means must be [N,3] (no batch dims on the CPU backend), got {tuple(means.shape)}"
    assert quats.shape == (N, 4), quats.shape
    assert scales.shape == (N, 3), scales.shape
    assert opacities.shape == (N,), opacities.shape
    assert viewmats.shape == (C, 4, 4), viewmats.shape
    assert Ks.shape == (C, 3, 3), Ks.shape
    if sh_degree is None:
        assert (colors.dim() == 2 and colors.shape[0] == N) or \
            (colors.dim() == 3 and colors.shape[:2] == (C, N)), colors.shape
    else:
        assert (colors.dim() == 3 and colors.shape[0] == N and colors.shape[-1] == 3) or \
            (colors.dim() == 4 and colors.shape[:2] == (C, N) and colors.shape[-1] == 3), colors.shape
        assert (sh_degree + 1) ** 2 <= colors.shape[-2], colors.shape


def _rasterize_cpu(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                   near_plane, far_plane, radius_clip, eps2d, sh_degree, tile_size,
                   backgrounds, render_mode, rasterize_mode):
    _check_shapes(means, quats, scales, opacities, colors, viewmats, Ks, sh_degree)
    N = means.shape[0]
    C = viewmats.shape[0]
    dt = means.dtype
    viewmats = viewmats.to(dt)
    Ks = Ks.to(dt)
    radii, means2d, depths, conics, opac, valid, cov_a, cov_c = project(
        means, quats, scales, opacities, viewmats, Ks, width, height, near_plane=near_plane,
        far_plane=far_plane, eps2d=eps2d, radius_clip=radius_clip,
        antialiased=(rasterize_mode == "antialiased"))

    if sh_degree is None:
        cols = colors if colors.dim() == 3 else colors[None].expand(C, N, colors.shape[-1])
    else:
        cols = colors_from_sh(sh_degree, means, colors, viewmats)
        cols = cols * valid[..., None].to(cols.dtype)  # gsplat masks invalid entries
    if backgrounds is not None:
        backgrounds = backgrounds.to(dt)
    if render_mode in ("RGB+D", "RGB+ED"):
        cols = torch.cat([cols, depths[..., None]], -1)
        if backgrounds is not None:
            backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(C, 1)], -1)
    elif render_mode in ("D", "ED"):
        cols = depths[..., None]
        if backgrounds is not None:
            backgrounds = backgrounds.new_zeros(C, 1)
    D = cols.shape[-1]

    K = C * N
    m2f = means2d.reshape(K, 2)
    conf = conics.reshape(K, 3)
    opf = opac.reshape(K)
    colf = cols.reshape(K, D)
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (m2f, conf, opf, colf))
    args = (m2f.detach(), conf.detach(), opf.detach(), depths.reshape(K).detach(),
            cov_a.reshape(K), cov_c.reshape(K), radii.reshape(K, 2), valid.reshape(K), C, N,
            width, height, tile_size)
    if needs_grad:
        pix, gk, alpha, T, T_final = search(*args)
        img, acc = Composite.apply(m2f, conf, opf, colf, pix, gk, alpha, T, T_final,
                                   width, height)
    else:
        img, T_final = search(*args, colors=colf.detach())
        acc = (1.0 - T_final).to(dt)[:, None]
    img = img.reshape(C, height, width, D)
    acc = acc.reshape(C, height, width, 1)
    if backgrounds is not None:
        img = img + backgrounds[:, None, None, :] * (1.0 - acc)
    if render_mode in ("ED", "RGB+ED"):
        img = torch.cat([img[..., :-1], img[..., -1:] / acc.clamp(min=1e-10)], -1)

    meta = {
        "batch_ids": None, "camera_ids": None, "gaussian_ids": None,
        "radii": radii, "means2d": means2d, "depths": depths, "conics": conics,
        "opacities": opac,
        "tile_width": math.ceil(width / tile_size), "tile_height": math.ceil(height / tile_size),
        "width": width, "height": height, "tile_size": tile_size,
        "n_batches": 1, "n_cameras": C,
    }
    return img, acc, meta
