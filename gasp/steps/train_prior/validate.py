"""Held-out PSNR of a trained prior and the ground truth | reconstruction grid."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gasp.config import Config
from gasp.io import atomic_path
from gasp.model.prior import GaspPrior
from gasp.steps.train_prior.data import PriorData
from gasp.steps.train_prior.step import Renderer, psnr


def render_pairs(model: GaspPrior, renderer: Renderer, pairs: Tensor, codes: Tensor | None = None) -> Tensor:
    """No-grad renders (B,H,W,3) of (subject, view) rows with each subject's code (or `codes` (B,L))."""
    out = []
    with torch.no_grad():
        for i in range(len(pairs)):
            row = pairs[i:i + 1]
            z = model.latents[row[:, 0].to(model.latents.device)] if codes is None else codes[i:i + 1]
            out.append(renderer.render(model.decode(z), row, model.binding)[0])
    return torch.cat(out)


def validate(model: GaspPrior, renderer: Renderer, data: PriorData, cfg: Config, grid_path: Path) -> dict:
    """PSNR on the held-out views of every training subject (own code, and the mean code as a
    reference), and a grid of ground truth | reconstruction for the first `val_subjects`."""
    if len(data.val_pairs) == 0:
        return {"val_views": 0}
    pairs = data.val_pairs
    gt, _ = renderer.target(pairs)
    pred = render_pairs(model, renderer, pairs)
    mean = render_pairs(model, renderer, pairs, model.mean_latent()[None].expand(len(pairs), -1))
    result = {"val_views": cfg.prior.val_views, "val_images": len(pairs),
              "psnr_heldout": float(psnr(pred, gt).mean()), "psnr_heldout_mean_code": float(psnr(mean, gt).mean())}
    shown = pairs[:, 0] < cfg.prior.val_subjects
    write_image_grid(grid_path, gt[shown], pred[shown], cols=cfg.prior.val_views)
    return result


def write_image_grid(path: Path, gt: Tensor, pred: Tensor, cols: int) -> None:
    """Rows of `cols` (gt | prediction) pairs; gt, pred (B,H,W,3) in 0..1, B a multiple of cols."""
    import cv2

    tiles = torch.stack([gt, pred], 1).clamp(0, 1).mul(255).round().byte().cpu().numpy()   # (B,2,H,W,3)
    b, _, h, w, _ = tiles.shape
    rows = tiles.reshape(b // cols, cols * 2, h, w, 3)
    grid = np.concatenate([np.concatenate(list(r), 1) for r in rows], 0)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write the image grid")
