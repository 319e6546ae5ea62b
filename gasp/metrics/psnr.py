"""PSNR per image, data range 1."""
from __future__ import annotations

import torch

from gasp.metrics.images import check_pair


def psnr(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None,
         max_db: float | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: 10*log10(1 / MSE).

    pred, gt: (B,3,H,W) in [0,1]. mask: optional (B,1,H,W) weights in [0,1]; the MSE is then the
    mask-weighted mean over the masked pixels and the 3 channels. Returns (B,). Identical images
    give +inf (no cap: a cap would be a made-up number; averages over a set then show inf too),
    unless `max_db` caps it (the training log, whose non-finite check would stop the run).
    """
    check_pair(pred, gt)
    err = (pred - gt).square()
    if mask is None:
        mse = err.mean(dim=(1, 2, 3))
    else:
        if mask.shape != (pred.shape[0], 1, *pred.shape[2:]):
            raise ValueError(f"mask: expected shape {(pred.shape[0], 1, *pred.shape[2:])}, got {tuple(mask.shape)}")
        if not torch.isfinite(mask).all() or (mask < 0).any():
            raise ValueError("mask: must be finite and non-negative")
        weight = mask.sum(dim=(1, 2, 3)) * pred.shape[1]
        if (weight == 0).any():
            raise ValueError(f"mask: empty for images {torch.nonzero(weight == 0).flatten().tolist()}")
        mse = (err * mask).sum(dim=(1, 2, 3)) / weight
    if max_db is not None:
        mse = mse.clamp_min(10.0 ** (-max_db / 10.0))
    return 10.0 * torch.log10(1.0 / mse)
