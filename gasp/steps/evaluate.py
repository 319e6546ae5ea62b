"""Evaluate one fitted avatar on its subject's held-out views.

Protocol (docs/interfaces.md; gasp/methods.py SETTINGS; view groups and splits from the dataset's cameras.json):
- monocular and single: `frames` = the held-out video frames (video/test), `ring` = the 360-degree
  ring (ring/test, when eval.ring);
- multiview: `frames` = the held-out rig cameras (rig/test).
Each view is rendered with that view's expression, jaw, neck and head pose. Foreground/background:
prediction (rgb over the background, as rendered) and ground truth (RGBA composited over the same
`eval.background`) are compared on the whole image, identically for every method.

Writes, atomically, into OUT: `images.csv` (one row per image: PSNR, SSIM, LPIPS when available,
identity similarity where a face is detected in the ground truth), `features.npz` (distribution
features of prediction and ground truth, pooled over subjects by the report into FID or FD_dlib),
`summary.json` (metric implementations with reasons, render speed, device) and `preview.png`.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gasp.config import Config
from gasp.data import Subject, load_subject
from gasp.io import atomic_path, atomic_write_json, atomic_write_text
from gasp.methods import SETTINGS
from gasp.metrics.images import background_rgb, composite
from gasp.metrics.suite import MetricSuite
from gasp.model.fitted_avatar import Avatar, Motion

class EvaluationError(RuntimeError):
    pass


def eval_views(subject: Subject, setting: str, ring: bool) -> dict[str, Subject]:
    """The held-out views of a setting: name -> selection of the subject."""
    if setting not in SETTINGS:
        raise EvaluationError(f"unknown setting {setting!r}; known: {', '.join(SETTINGS)}")
    sets = {name: subject.select(group, split) for name, (group, split) in SETTINGS[setting].eval_views.items()
            if name != "ring" or ring}
    for name, sel in sets.items():
        if len(sel) == 0:
            raise EvaluationError(f"{subject.dir}/cameras.json: no views for '{name}' of setting {setting}")
    return sets


def ground_truth(sel: Subject, background: str) -> torch.Tensor:
    """(V,3,H,W): the RGBA images composited over the background."""
    img = torch.from_numpy(sel.images).permute(0, 3, 1, 2)
    return composite(img[:, :3], img[:, 3:4], background)


def evaluate(subject_dir: str | Path, avatar_path: str | Path, setting: str, method: str, cfg: Config,
             out_dir: str | Path, suite: MetricSuite | None = None) -> dict:
    """Render the avatar on the held-out views, compute the metrics, write OUT/{images.csv,
    features.npz, summary.json, preview.png}; return the summary."""
    out_dir = Path(out_dir)
    subject = load_subject(subject_dir)
    avatar = Avatar.load(avatar_path)
    suite = suite or MetricSuite(cfg.metrics)
    bg = cfg.eval.background
    rows, feats, previews = [], {"pred": [], "gt": [], "views": []}, []
    render_s, n_rendered = 0.0, 0
    for views, sel in eval_views(subject, setting, cfg.eval.ring).items():
        t0 = time.perf_counter()
        rgb, _ = avatar.render(Motion.from_subject(sel), sel.K, sel.w2c, subject.width, subject.height,
                               background=background_rgb(cfg.eval.background))
        render_s += time.perf_counter() - t0
        n_rendered += len(sel)
        pred = rgb.permute(0, 3, 1, 2).clamp(0, 1).float().cpu()
        gt = ground_truth(sel, bg)
        per_image = suite.image_metrics(pred, gt)
        pf = suite.pair_features(pred, gt)
        idsim = np.full(len(sel), np.nan)
        idsim[pf.face_index] = pf.idsim
        idsim_col = "IDSIM" if pf.idsim_column == "ID-SIM" else pf.idsim_column
        for i, view in enumerate(sel.view_ids):
            row = {"subject": subject.id, "setting": setting, "method": method, "views": views, "view": view,
                   "PSNR": float(per_image["PSNR"][i]), "SSIM": float(per_image["SSIM"][i]),
                   "LPIPS": float(per_image["LPIPS"][i]) if per_image["LPIPS"] is not None else np.nan,
                   idsim_col: idsim[i]}
            if not np.isfinite(row["PSNR"]) or not np.isfinite(row["SSIM"]):
                raise EvaluationError(f"{avatar_path}: non-finite metric on view {view} ({views})")
            rows.append(row)
        feats["pred"].append(pf.dist_pred)
        feats["gt"].append(pf.dist_gt)
        feats["views"] += [views] * len(pf.dist_index)
        previews.append((views, gt[:4], pred[:4]))

    atomic_write_text(out_dir / "images.csv", pd.DataFrame(rows).to_csv(index=False))
    with atomic_path(out_dir / "features.npz") as tmp:
        np.savez(tmp, pred=np.concatenate(feats["pred"]), gt=np.concatenate(feats["gt"]),
                 views=np.array(feats["views"], dtype=str), kind=np.array(suite.impls["FID"].column),
                 setting=np.array(setting), method=np.array(method), subject=np.array(subject.id))
    _preview(out_dir / "preview.png", previews)
    summary = {
        "subject": subject.id, "setting": setting, "method": method, "avatar": str(avatar_path),
        "n_images": len(rows), "resolution": subject.width,
        "render_fps": n_rendered / render_s if render_s > 0 else float("nan"),
        "device": str(avatar.attrs.device) if hasattr(avatar, "attrs") else "cpu",
        "implementations": {k: (f"{v.impl}: {v.reason}" if v.impl else f"n/a: {v.reason}")
                            for k, v in suite.impls.items()},
        "means": pd.DataFrame(rows).groupby("views").mean(numeric_only=True).to_dict(),
    }
    atomic_write_json(out_dir / "summary.json", summary)
    return summary


def _preview(path: Path, previews) -> None:
    """Ground truth (top) over prediction (bottom), up to 4 views of each view set."""
    from PIL import Image

    cols = []
    for _, gt, pred in previews:
        for g, p in zip(gt, pred):
            cols.append(torch.cat([g, p], dim=1))  # (3, 2H, W)
    grid = torch.cat(cols, dim=2).permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray((grid * 255 + 0.5).clip(0, 255).astype(np.uint8)).save(tmp, format="PNG")


def report_frechet(cfg: Config):
    """The Fréchet distance the report pools over subjects (clean-fid's math)."""
    from gasp.metrics.fid import frechet_distance

    def frechet(pred: np.ndarray, gt: np.ndarray) -> float:
        if len(pred) < cfg.metrics.fid_min_images:
            return float("nan")
        return float(frechet_distance(pred, gt))
    return frechet
