"""Sparse CPU rasterization: no-grad search of contributing (pixel, Gaussian) pairs, then
differentiable compositing over those pairs only.

Per-pixel semantics are those of gsplat 1.5.3's ``rasterize_to_pixels_3dgs`` kernel (classic mode):
front-to-back in depth order, pixel centres at integer + 0.5,
``sigma = 0.5 (a dx^2 + c dy^2) + b dx dy``, ``alpha = min(0.999, opacity * exp(-sigma))``,
skip a Gaussian when ``sigma < 0`` or ``alpha < 1/255``, stop *before* the Gaussian that would
bring the transmittance to ``T <= 1e-4``; ``render_alpha = 1 - T``.

Binning: gsplat bins Gaussians into 16x16 tiles and evaluates every pixel of every touched tile.
A pixel can only receive ``alpha >= 1/255`` where ``sigma <= ln(255 * opacity)``, i.e. inside the
ellipse's bounding box ``|dx| <= sqrt(2 ln(255 o) cov_xx)`` (and likewise for y). We enumerate
exactly the pixels of that box intersected with gsplat's tile range (so the set of pixels a
Gaussian may touch is never larger than gsplat's), which gives the same contributing pairs
with far fewer candidate evaluations than whole tiles.

Search: Gaussians are processed in global depth order, in chunks bounded by a candidate budget.
Per chunk, candidate pairs are generated from the boxes, pixels already finished (early
termination) are dropped, alphas are evaluated and thresholded, pairs are sorted by pixel (stable,
so depth order is kept inside a pixel) and a segmented log-cumsum (float64) gives each pair's
transmittance, continuing from the pixel's transmittance after earlier chunks. Gaussians whose
whole box lies on finished pixels are skipped using a summed-area table of the finished mask.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._projection import ALPHA_THRESHOLD

T_STOP = 1e-4
ALPHA_MAX = 0.999


def _boxes(m2: Tensor, a: Tensor, c: Tensor, op: Tensor, radii: Tensor,
           width: int, height: int, tile_size: int):
    """Inclusive pixel ranges [x0, x1] x [y0, y1] that can receive alpha >= 1/255."""
    dt = m2.dtype
    L = torch.log(torch.clamp(op, min=ALPHA_THRESHOLD) / ALPHA_THRESHOLD).clamp(min=0)
    bx = torch.sqrt(2 * L * a) * (1 + 1e-5) + 1e-4
    by = torch.sqrt(2 * L * c) * (1 + 1e-5) + 1e-4
    mx, my = m2[:, 0], m2[:, 1]
    rx = radii[:, 0].to(dt)
    ry = radii[:, 1].to(dt)
    tw = (width + tile_size - 1) // tile_size
    th = (height + tile_size - 1) // tile_size
    # gsplat's tile range (isect_tiles) in pixels: [tmin * ts, tmax * ts)
    tminx = torch.floor(mx / tile_size - rx / tile_size).clamp(0, tw)
    tmaxx = torch.ceil(mx / tile_size + rx / tile_size).clamp(0, tw)
    tminy = torch.floor(my / tile_size - ry / tile_size).clamp(0, th)
    tmaxy = torch.ceil(my / tile_size + ry / tile_size).clamp(0, th)
    x0 = torch.maximum(torch.ceil(mx - bx - 0.5), tminx * tile_size).clamp(min=0)
    x1 = torch.minimum(torch.floor(mx + bx - 0.5), tmaxx * tile_size - 1).clamp(max=width - 1)
    y0 = torch.maximum(torch.ceil(my - by - 0.5), tminy * tile_size).clamp(min=0)
    y1 = torch.minimum(torch.floor(my + by - 0.5), tmaxy * tile_size - 1).clamp(max=height - 1)
    x0, x1, y0, y1 = (t.to(torch.int64) for t in (x0, x1, y0, y1))
    w = (x1 - x0 + 1).clamp(min=0)
    h = (y1 - y0 + 1).clamp(min=0)
    return x0, y0, w, h


def _segments(sorted_keys: Tensor):
    """first-of-segment mask and segment index for a sorted key array."""
    M = sorted_keys.numel()
    first = torch.ones(M, dtype=torch.bool)
    if M > 1:
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    seg = torch.cumsum(first, 0) - 1
    return first, seg


def _seg_exclusive_cumsum(x: Tensor, first: Tensor, seg: Tensor) -> Tensor:
    cs = torch.cumsum(x, 0)
    excl = cs - x
    return excl - excl[first][seg]


@torch.no_grad()
def search(m2: Tensor, conics: Tensor, op: Tensor, depths: Tensor, a: Tensor, c: Tensor,
           radii: Tensor, valid: Tensor, n_images: int, N: int, width: int, height: int,
           tile_size: int = 16, colors: Tensor | None = None, budget: int = 1 << 18):
    """All inputs flattened over K = n_images * N entries (entry k = image * N + gaussian).

    Returns (pix, gk, alpha, T, T_final[, image]) where pix is the global pixel index
    image * H * W + y * W + x, gk the entry index, alpha the pair's alpha, T the transmittance in
    front of it (float64), all sorted by (pixel, depth). With ``colors`` [K, D] given, nothing is
    recorded: the composited image [n_images * H * W, D] is accumulated on the fly (eval path)
    and returned in place of the pair arrays.
    """
    HW = height * width
    n_pix = n_images * HW
    T_cur = torch.ones(n_pix, dtype=torch.float64)
    done = torch.zeros(n_pix, dtype=torch.bool)
    image = None
    if colors is not None:
        image = torch.zeros(n_pix, colors.shape[-1], dtype=colors.dtype)
    out = []

    ks = torch.nonzero(valid).squeeze(-1)
    if ks.numel():
        order = torch.argsort(depths[ks].float(), stable=True)
        ks = ks[order]
        x0, y0, w, h = _boxes(m2[ks], a[ks], c[ks], op[ks], radii[ks], width, height, tile_size)
        area = w * h
        keep = area > 0
        ks, x0, y0, w, h, area = ks[keep], x0[keep], y0[keep], w[keep], h[keep], area[keep]
        img_of = ks // N
        cum = torch.cumsum(area, 0)
        n = ks.numel()
        s = 0
        any_done = False
        while s < n:
            base = int(cum[s - 1]) if s > 0 else 0
            e = int(torch.searchsorted(cum, base + budget, right=True))
            e = max(e, s + 1)
            sl = slice(s, e)
            s = e
            k_c, x0_c, y0_c, w_c, h_c, ar_c, im_c = (
                ks[sl], x0[sl], y0[sl], w[sl], h[sl], area[sl], img_of[sl])
            if any_done:
                # skip Gaussians whose whole box lies on finished pixels
                sat = torch.zeros(n_images, height + 1, width + 1, dtype=torch.int32)
                sat[:, 1:, 1:] = done.view(n_images, height, width).to(torch.int32).cumsum(1).cumsum(2)
                satf = sat.view(-1)
                stride = (height + 1) * (width + 1)
                b0 = im_c * stride
                xa, xb = x0_c, x0_c + w_c
                ya, yb = y0_c, y0_c + h_c
                cnt = (satf[b0 + yb * (width + 1) + xb] - satf[b0 + ya * (width + 1) + xb]
                       - satf[b0 + yb * (width + 1) + xa] + satf[b0 + ya * (width + 1) + xa])
                live = cnt < ar_c
                if not bool(live.all()):
                    k_c, x0_c, y0_c, w_c, h_c, ar_c, im_c = (
                        t[live] for t in (k_c, x0_c, y0_c, w_c, h_c, ar_c, im_c))
                if k_c.numel() == 0:
                    continue
            total = int(ar_c.sum())
            # one packed gather per candidate: floats (mean, conic, opacity) and ints (pixel
            # index of the box corner, box width, first candidate, box corner x, y)
            n_c = k_c.numel()
            starts = torch.cumsum(ar_c, 0) - ar_c
            mu = m2[k_c]
            fpack = torch.cat([mu, conics[k_c], op[k_c, None]], -1)  # [n_c, 6]
            ipack = torch.stack([im_c * HW + y0_c * width + x0_c, w_c, starts, x0_c, y0_c],
                                -1)  # [n_c, 5]
            src = torch.repeat_interleave(torch.arange(n_c), ar_c, output_size=total)
            ip = ipack[src]
            fp = fpack[src]
            local = torch.arange(total) - ip[:, 2]
            ly = torch.div(local, ip[:, 1], rounding_mode="floor")
            lx = local - ly * ip[:, 1]
            pix = ip[:, 0] + ly * width + lx
            # same rounding as gsplat: delta = mean - (pixel + 0.5)
            dx = fp[:, 0] - ((ip[:, 3] + lx).to(fp.dtype) + 0.5)
            dy = fp[:, 1] - ((ip[:, 4] + ly).to(fp.dtype) + 0.5)
            sigma = 0.5 * (fp[:, 2] * dx * dx + fp[:, 4] * dy * dy) + fp[:, 3] * dx * dy
            alpha = torch.clamp_max(fp[:, 5] * torch.exp(-sigma), ALPHA_MAX)
            ok = (sigma >= 0) & (alpha >= ALPHA_THRESHOLD)
            if any_done:
                ok &= ~done[pix]
            sel = torch.nonzero(ok).squeeze(-1)
            pix, alpha, src = pix[sel], alpha[sel], src[sel]
            if pix.numel() == 0:
                continue
            pix, o = torch.sort(pix, stable=True)
            gk, alpha = k_c[src[o]], alpha[o]
            first, seg = _segments(pix)
            l = torch.log1p(-alpha.double())
            T = T_cur[pix] * torch.exp(_seg_exclusive_cumsum(l, first, seg))
            nT = T * (1 - alpha.double())
            contrib = nT > T_STOP
            if not bool(contrib.all()):
                done[pix[~contrib]] = True
                any_done = True
                pix, gk, alpha, T, nT = pix[contrib], gk[contrib], alpha[contrib], T[contrib], nT[contrib]
            T_cur.scatter_reduce_(0, pix, nT, reduce="amin")
            if image is not None:
                wgt = (alpha * T.to(alpha.dtype))[:, None]
                image.index_add_(0, pix, wgt * colors[gk])
            else:
                out.append((pix, gk, alpha, T))
    if image is not None:
        return image, T_cur
    if not out:
        e64 = torch.zeros(0, dtype=torch.int64)
        return e64, e64, torch.zeros(0, dtype=m2.dtype), torch.zeros(0, dtype=torch.float64), T_cur
    if len(out) == 1:
        pix, gk, alpha, T = out[0]
    else:
        pix, gk, alpha, T = (torch.cat(t) for t in zip(*out))
        pix, o = torch.sort(pix, stable=True)
        gk, alpha, T = gk[o], alpha[o], T[o]
    return pix, gk, alpha, T, T_cur


class Composite(torch.autograd.Function):
    """Differentiable compositing over the contributing pairs (analytic backward).

    Inputs are flattened over entries: means2d [K,2], conics [K,3], opacities [K], colors [K,D].
    Outputs: image [P,D] (no background) and alpha [P,1] over P = n_images * H * W pixels.
    """

    @staticmethod
    def forward(ctx, means2d, conics, opacities, colors, pix, gk, alpha, T, T_final, width, height):
        dt = colors.dtype
        w = alpha.to(dt) * T.to(dt)
        P = T_final.numel()
        img = torch.zeros(P, colors.shape[-1], dtype=dt)
        img.index_add_(0, pix, w[:, None] * colors[gk])
        acc = (1.0 - T_final).to(dt)[:, None]
        ctx.save_for_backward(means2d, conics, opacities, colors, pix, gk, alpha, T)
        ctx.wh = (width, height)
        return img, acc

    @staticmethod
    def backward(ctx, g_img, g_acc):
        means2d, conics, opacities, colors, pix, gk, alpha, T = ctx.saved_tensors
        width, height = ctx.wh
        dt = colors.dtype
        K = colors.shape[0]
        need_m, need_c, need_o, need_col = ctx.needs_input_grad[:4]
        gi = g_img[pix]  # [M,D]
        Td = T.to(dt)
        w = alpha * Td
        g_colors = None
        if need_col:
            g_colors = torch.zeros_like(colors).index_add_(0, gk, w[:, None] * gi)
        if not (need_m or need_c or need_o):
            return None, None, None, g_colors, None, None, None, None, None, None, None
        v = (colors[gk] * gi).sum(-1)
        if g_acc is not None:
            v = v + g_acc[:, 0][pix]
        # suffix sums S_j = sum_{i after j in the same pixel} w_i v_i (float64)
        wv = (w * v).double()
        first, seg = _segments(pix)
        cs = torch.cumsum(wv, 0)
        incl = cs - (cs - wv)[first][seg]
        tot = torch.zeros(int(seg[-1]) + 1 if seg.numel() else 0, dtype=torch.float64)
        tot.index_add_(0, seg, wv)
        S = tot[seg] - incl
        ad = alpha.double()
        g_alpha = (T * v.double() - S / (1.0 - ad)).to(dt)
        # alpha = min(0.999, o * exp(-sigma))
        p = pix % (width * height)
        py = torch.div(p, width, rounding_mode="floor")
        px = p - py * width
        mu = means2d[gk]
        cn = conics[gk]
        dx = mu[:, 0] - (px.to(dt) + 0.5)
        dy = mu[:, 1] - (py.to(dt) + 0.5)
        sigma = 0.5 * (cn[:, 0] * dx * dx + cn[:, 2] * dy * dy) + cn[:, 1] * dx * dy
        ex = torch.exp(-sigma)
        o = opacities[gk]
        raw = o * ex
        g_alpha = g_alpha * (raw <= ALPHA_MAX).to(dt)
        g_means2d = g_conics = g_opac = None
        if need_o:
            g_opac = torch.zeros_like(opacities).index_add_(0, gk, g_alpha * ex)
        g_sigma = -g_alpha * raw
        if need_m:
            gm = torch.stack([cn[:, 0] * dx + cn[:, 1] * dy, cn[:, 1] * dx + cn[:, 2] * dy], -1)
            g_means2d = torch.zeros(K, 2, dtype=dt).index_add_(0, gk, g_sigma[:, None] * gm)
        if need_c:
            gc = torch.stack([0.5 * dx * dx, dx * dy, 0.5 * dy * dy], -1)
            g_conics = torch.zeros(K, 3, dtype=dt).index_add_(0, gk, g_sigma[:, None] * gc)
        return g_means2d, g_conics, g_opac, g_colors, None, None, None, None, None, None, None
