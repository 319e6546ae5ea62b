"""SSIM (Wang et al. 2004), the standard definition, differentiable; used by metrics and losses.

Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, population (not sample)
covariances, computed per channel over the 'valid' region (window fully inside the image) and
averaged over channels and pixels. This equals scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1, channel_axis=-1)` (which filters with reflection and then crops the border of
half a window: the same pixels), pinned by tests/test_metrics.py.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gasp.metrics.images import check_pair

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def _window(channels: int, dtype, device) -> torch.Tensor:
    x = torch.arange(WINDOW, dtype=torch.float64) - (WINDOW - 1) / 2
    g = torch.exp(-0.5 * (x / SIGMA) ** 2)
    g = g / g.sum()
    w2 = torch.outer(g, g).to(dtype=dtype, device=device)
    return w2.expand(channels, 1, WINDOW, WINDOW).contiguous()


def ssim(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image. pred, gt: (B,3,H,W) in [0,1], H and W >= 11. Returns (B,),
    differentiable with respect to both inputs. Identical images give exactly 1."""
    check_pair(pred, gt)
    if min(pred.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW} pixels, got {tuple(pred.shape[-2:])}")
    c = pred.shape[1]
    w = _window(c, pred.dtype, pred.device)

    def blur(x):
        return F.conv2d(x, w, groups=c)

    mu_x, mu_y = blur(pred), blur(gt)
    var_x = blur(pred * pred) - mu_x * mu_x
    var_y = blur(gt * gt) - mu_y * mu_y
    cov = blur(pred * gt) - mu_x * mu_y
    c1, c2 = K1 ** 2, K2 ** 2  # data range 1
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3))
