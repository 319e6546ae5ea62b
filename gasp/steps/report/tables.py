"""Aggregate per-image metrics into the paper's tables: mean and 95% interval over subjects.

Input: the per-image metric rows written by gasp/steps/evaluate.py (one CSV per setting/method/subject,
columns `subject, setting, method, views, view, <metric>...`) and the pooled distribution metrics
(FID or its substitute) computed over all subjects of a (setting, method, views) cell.
A metric is averaged per subject first, then over subjects, so a subject with more views does not
weigh more; the 95% interval is Student-t over subjects (n/a with a single subject).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

# Per-image metrics in the order tables show them; renamed substitutes (FD_dlib, IDSIM_dlib) keep
# their own names so no number pretends to be the paper's metric.
PER_IMAGE = ["PSNR", "SSIM", "LPIPS", "IDSIM", "IDSIM_dlib"]
POOLED = ["FID", "FD_dlib"]
KEYS = ["setting", "method", "views"]


@dataclass(frozen=True)
class Interval:
    mean: float
    half_width: float  # NaN when undefined (fewer than 2 subjects)
    n: int


def mean_ci95(values) -> Interval:
    """Mean and Student-t 95% half-width of `values` (NaNs dropped)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if x.size == 0:
        return Interval(float("nan"), float("nan"), 0)
    if x.size == 1:
        return Interval(float(x[0]), float("nan"), 1)
    sem = x.std(ddof=1) / math.sqrt(x.size)
    return Interval(float(x.mean()), float(stats.t.ppf(0.975, x.size - 1) * sem), int(x.size))


def aggregate(per_image: pd.DataFrame, pooled: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (setting, method, views): n_subjects, n_images, <metric>, <metric>_ci95.

    per_image: rows of single images with KEYS + `subject` + metric columns (NaN = not computed).
    pooled: rows with KEYS + POOLED columns (distribution metrics over all subjects of a cell).
    Metric columns that are entirely missing are left out (the report says why).
    """
    metrics = [m for m in PER_IMAGE if m in per_image and per_image[m].notna().any()]
    per_subject = per_image.groupby(KEYS + ["subject"], sort=False)[metrics].mean().reset_index()
    rows = []
    for key, group in per_subject.groupby(KEYS, sort=False):
        row = dict(zip(KEYS, key))
        row["n_subjects"] = int(group["subject"].nunique())
        sel = per_image
        for k, v in zip(KEYS, key):
            sel = sel[sel[k] == v]
        row["n_images"] = int(len(sel))
        for m in metrics:
            iv = mean_ci95(group[m])
            row[m] = iv.mean
            row[f"{m}_ci95"] = iv.half_width
        rows.append(row)
    table = pd.DataFrame(rows)
    if pooled is not None and len(pooled):
        cols = [c for c in POOLED if c in pooled and pooled[c].notna().any()]
        table = table.merge(pooled[KEYS + cols], on=KEYS, how="left")
    return table


def with_paper(table: pd.DataFrame, paper: dict, setting_key: bool = True) -> pd.DataFrame:
    """Add `paper_<metric>` columns beside ours. `paper` is setting -> method -> metric -> value
    (or method -> metric -> value when setting_key is False). Substitutes are compared with the
    metric they stand in for (FD_dlib with FID, IDSIM_dlib with IDSIM) and say so in the report."""
    out = table.copy()
    for metric in ["PSNR", "SSIM", "LPIPS", "FID", "IDSIM"]:
        vals = []
        for _, r in out.iterrows():
            src = paper.get(r["setting"], {}) if setting_key else paper
            vals.append(src.get(r["method"], {}).get(metric, float("nan")))
        out[f"paper_{metric}"] = vals
    return out


def format_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Round floats for CSV/markdown output; NaN becomes 'n/a'."""
    out = table.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [("n/a" if (v is None or (isinstance(v, float) and math.isnan(v))) else round(v, digits))
                      for v in out[c]]
    return out
