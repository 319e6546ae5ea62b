"""A "reproduced?" verdict for each finding of the paper, from paired per-subject differences.

Each finding compares two methods on the same subjects. The per-subject difference of a metric
(in the direction the paper claims) is averaged over subjects with a Student-t 95% interval:
- "yes": the mean difference points the paper's way and the interval excludes zero;
- "direction only": it points the paper's way but the interval includes zero (or n < 2);
- "no": it points the other way;
- "n/a": a method or metric is missing (the reason is given).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from gasp.steps.report.paper import HIGHER_IS_BETTER
from gasp.steps.report.tables import mean_ci95


@dataclass(frozen=True)
class Comparison:
    setting: str
    views: str
    better: str        # the method the paper finds better
    worse: str
    metric: str


@dataclass(frozen=True)
class Finding:
    name: str
    claim: str
    comparisons: tuple[Comparison, ...]
    # "close" findings: |difference| within tolerance instead of a direction
    close_tolerance: float | None = None


def _metric_name(per_image: pd.DataFrame, metric: str) -> str | None:
    """The available implementation of a metric: the real one, else its renamed substitute."""
    for name in (metric, f"{metric}_dlib"):
        if name in per_image and per_image[name].notna().any():
            return name
    return None


def per_subject(per_image: pd.DataFrame, setting: str, method: str, views: str, metric: str) -> pd.Series:
    sel = per_image[(per_image.setting == setting) & (per_image.method == method) & (per_image.views == views)]
    return sel.groupby("subject")[metric].mean()


def judge(per_image: pd.DataFrame, c: Comparison, close_tolerance: float | None = None) -> dict:
    name = _metric_name(per_image, c.metric)
    base = {"setting": c.setting, "views": c.views, "better": c.better, "worse": c.worse, "metric": c.metric}
    if name is None:
        return {**base, "verdict": "n/a", "detail": f"{c.metric} not computed (weights missing)"}
    a = per_subject(per_image, c.setting, c.better, c.views, name)
    b = per_subject(per_image, c.setting, c.worse, c.views, name)
    common = a.index.intersection(b.index)
    if len(common) == 0:
        missing = c.better if a.empty else c.worse
        return {**base, "metric": name, "verdict": "n/a", "detail": f"no results for {missing}"}
    sign = 1.0 if HIGHER_IS_BETTER[c.metric] else -1.0
    iv = mean_ci95(sign * (a[common] - b[common]))
    detail = (f"{name}: {c.better} {a[common].mean():.4g} vs {c.worse} {b[common].mean():.4g} "
              f"(n={iv.n}, diff {iv.mean:+.4g}"
              + ("" if math.isnan(iv.half_width) else f" +- {iv.half_width:.3g}") + ")")
    if close_tolerance is not None:
        verdict = "yes" if abs(iv.mean) <= close_tolerance else "no"
        detail += f"; close means |diff| <= {close_tolerance}"
    elif iv.mean > 0 and not math.isnan(iv.half_width) and iv.mean - iv.half_width > 0:
        verdict = "yes"
    elif iv.mean > 0:
        verdict = "direction only"
    else:
        verdict = "no"
    return {**base, "metric": name, "verdict": verdict, "detail": detail, "diff": iv.mean,
            "ci95": iv.half_width, "n": iv.n}


def _both_views(setting: str, better: str, worse: str, metrics: tuple[str, ...], views=("frames", "ring")):
    return tuple(Comparison(setting, v, better, worse, m) for v in views for m in metrics)


FINDINGS: tuple[Finding, ...] = (
    Finding("prior_beats_no_prior", "The synthetic prior improves monocular avatars (PSNR up ~2 dB, LPIPS down).",
            _both_views("monocular", "gasp", "no_prior", ("PSNR", "LPIPS"))),
    Finding("gasp_beats_flashavatar", "GASP beats a FlashAvatar-style per-subject model from monocular video.",
            _both_views("monocular", "gasp", "flashavatar_style", ("PSNR", "LPIPS"))),
    Finding("single_image", "From a single image, GASP beats the baselines (20.73 vs 14.80 / 13.26 dB PSNR).",
            _both_views("single", "gasp", "no_prior", ("PSNR",))
            + _both_views("single", "gasp", "flashavatar_style", ("PSNR",))),
    Finding("ablation_no_stage1", "Removing stage 1 (latent inversion) hurts (PSNR 21.34 -> 19.56).",
            _both_views("monocular", "gasp", "no_stage1", ("PSNR", "LPIPS"))),
    Finding("ablation_no_stage2", "Removing stage 2 (decoder fine-tuning) hurts PSNR and ID-SIM (0.568 -> 0.490).",
            _both_views("monocular", "gasp", "no_stage2", ("PSNR", "IDSIM"))),
    Finding("ablation_no_prior_reg", "Without L_prior, PSNR/LPIPS get worse (unseen views deteriorate) ...",
            _both_views("monocular", "gasp", "no_prior_reg", ("PSNR", "LPIPS"))),
    Finding("no_prior_reg_idsim", "... while ID-SIM on the frames goes up (0.620 vs 0.568): a trade-off.",
            (Comparison("monocular", "frames", "no_prior_reg", "gasp", "IDSIM"),)),
    Finding("one_subject_prior_worse", "A prior trained on 1 subject is worse than no prior at all.",
            _both_views("monocular", "no_prior", "prior_1subject", ("PSNR",))),
    Finding("prior_size", "More prior subjects give better avatars (1 < few < all).",
            _both_views("monocular", "gasp", "prior_few", ("PSNR",))
            + _both_views("monocular", "prior_few", "prior_1subject", ("PSNR",))),
    Finding("multiview_close", "With dense multi-view input GASP is close to GaussianAvatars (23.44 vs 23.73 dB).",
            (Comparison("multiview", "frames", "gasp", "no_prior", "PSNR"),), close_tolerance=1.0),
)


def judge_all(per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per (finding, comparison) with its verdict."""
    rows = []
    for f in FINDINGS:
        for c in f.comparisons:
            rows.append({"finding": f.name, "claim": f.claim, **judge(per_image, c, f.close_tolerance)})
    return pd.DataFrame(rows)


def overall(rows: pd.DataFrame) -> pd.DataFrame:
    """One verdict per finding: 'yes' if every comparison is yes, 'no' if any is no, else the mix."""
    out = []
    for name, g in rows.groupby("finding", sort=False):
        vs = set(g.verdict)
        if vs == {"yes"}:
            v = "yes"
        elif vs <= {"n/a"}:
            v = "n/a"
        elif "no" in vs and not (vs & {"yes", "direction only"}):
            v = "no"
        elif "no" in vs:
            v = "partly"
        else:
            v = "direction only" if "direction only" in vs else "yes"
        out.append({"finding": name, "claim": g.claim.iloc[0], "verdict": v,
                    "comparisons": "; ".join(f"{r.views}/{r.metric}: {r.verdict}" for r in g.itertuples())})
    return pd.DataFrame(out)
