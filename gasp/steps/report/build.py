"""Build every table, reports/report.md and the summary figures from the evaluation results.

Inputs (written by gasp/steps/evaluate.py, one folder per setting/method/subject under results/metrics/):
`images.csv` (per-image metrics), `features.npz` (distribution features of predictions and ground
truth, for FID or its substitute), `summary.json` (metric implementations, render speed); and the
fits' `fit.json` (fit time, avatar size) under results/fits/. Tables are written atomically.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from gasp.io import atomic_write_json, atomic_write_text
from gasp.methods import METHODS, table_methods
from gasp.steps.report import figures
from gasp.steps.report.markdown import write_report
from gasp.steps.report.paper import PAPER, PAPER_ABLATION
from gasp.steps.report.tables import KEYS, aggregate, format_table, with_paper
from gasp.steps.report.verdicts import judge_all, overall



class ReportError(RuntimeError):
    pass


def load_results(metrics_root: Path) -> tuple[pd.DataFrame, list[dict], list[Path]]:
    """All per-image rows, the summaries and the feature files under results/metrics/."""
    csvs = sorted(Path(metrics_root).glob("*/*/*/images.csv"))
    if not csvs:
        raise ReportError(f"{metrics_root}: no */*/*/images.csv found: run the evaluation first")
    frames = []
    for p in csvs:
        try:
            frames.append(pd.read_csv(p))
        except Exception as e:  # a corrupt CSV must name itself
            raise ReportError(f"{p}: unreadable metrics CSV: {e}") from None
    summaries = []
    for p in sorted(Path(metrics_root).glob("*/*/*/summary.json")):
        try:
            summaries.append(json.loads(p.read_text()))
        except json.JSONDecodeError as e:
            raise ReportError(f"{p}: not valid JSON: {e}") from None
    return pd.concat(frames, ignore_index=True), summaries, sorted(Path(metrics_root).glob("*/*/*/features.npz"))


def pooled_distances(feature_files: list[Path], frechet) -> pd.DataFrame:
    """Fréchet distance between predicted and ground-truth feature sets, pooled over subjects.

    `frechet(pred (n,d), gt (n,d)) -> float` (NaN when too few samples); the metric's name comes
    from the file (`kind`: "FID" with Inception features, "FD_dlib" with dlib descriptors).
    """
    pools: dict[tuple, dict] = {}
    for p in feature_files:
        with np.load(p, allow_pickle=False) as z:
            kind = str(z["kind"])
            views = [str(v) for v in z["views"]]
            for v in sorted(set(views)):
                sel = np.array([x == v for x in views])
                key = (str(z["setting"]), str(z["method"]), v)
                pool = pools.setdefault(key, {"kind": kind, "pred": [], "gt": []})
                pool["pred"].append(z["pred"][sel])
                pool["gt"].append(z["gt"][sel])
    rows = []
    for (setting, method, views), pool in pools.items():
        pred, gt = np.concatenate(pool["pred"]), np.concatenate(pool["gt"])
        rows.append({"setting": setting, "method": method, "views": views, pool["kind"]: frechet(pred, gt)})
    return pd.DataFrame(rows, columns=KEYS + ["FID", "FD_dlib"]) if not rows else pd.DataFrame(rows)


def speed_table(fits_root: Path, summaries: list[dict]) -> pd.DataFrame:
    rows = []
    fits = {}
    for p in sorted(Path(fits_root).glob("*/*/*/fit.json")):
        d = json.loads(p.read_text())
        fits.setdefault(p.parts[-3], []).append(d)  # by method
    render = {}
    for s in summaries:
        render.setdefault(s.get("method"), []).append(s)
    for method in sorted(set(fits) | set(render)):
        fs, rs = fits.get(method, []), render.get(method, [])
        rows.append({
            "method": method,
            "n_fits": len(fs),
            "fit_minutes": _mean([f.get("fit_seconds", float("nan")) / 60 for f in fs]),
            "avatar_MB": _mean([f.get("avatar_bytes", float("nan")) / 1e6 for f in fs]),
            "gaussians": _mean([f.get("n_gaussians", float("nan")) for f in fs]),
            "render_fps": _mean([r.get("render_fps", float("nan")) for r in rs]),
            "resolution": _mean([r.get("resolution", float("nan")) for r in rs]),
            "device": ", ".join(sorted({str(r.get("device", "?")) for r in rs} | {str(f.get("device", "?")) for f in fs})),
        })
    return pd.DataFrame(rows)


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(xs)) if xs else float("nan")


def implementations(summaries: list[dict]) -> dict[str, str]:
    """Which implementation each metric used, and why (from the evaluation summaries)."""
    out: dict[str, set] = {}
    for s in summaries:
        for metric, info in s.get("implementations", {}).items():
            out.setdefault(metric, set()).add(info)
    return {m: "; ".join(sorted(v)) for m, v in out.items()}


def metrics_json(table: pd.DataFrame, verdicts: pd.DataFrame) -> dict:
    """DVC metrics (`dvc metrics show/diff`): setting -> method -> views -> metric means, and the
    verdict of every finding."""
    out: dict = {"verdicts": dict(zip(verdicts.finding, verdicts.verdict))}
    metric_cols = [c for c in table.columns if c not in KEYS and not c.endswith("_ci95")]
    for _, r in table.iterrows():
        cell = out.setdefault(r.setting, {}).setdefault(r.method, {}).setdefault(r.views, {})
        for c in metric_cols:
            v = r[c]
            cell[c] = None if (isinstance(v, float) and math.isnan(v)) else (float(v) if isinstance(v, (float, np.floating)) else int(v))
    return out


def build(metrics_root: Path, fits_root: Path, out_dir: Path, frechet, config_summary: str = "",
          figure_inputs: dict[str, Path] | None = None) -> dict[str, Path]:
    """Write reports/{main,ablation,multiview,prior_size,speed}_table.csv, report.md, figures."""
    out_dir = Path(out_dir)
    per_image, summaries, feature_files = load_results(metrics_root)
    pooled = pooled_distances(feature_files, frechet)
    table = aggregate(per_image, pooled)

    def pick(setting_methods: dict[str, list[str]]) -> pd.DataFrame:
        parts = [table[(table.setting == s) & table.method.isin(ms)] for s, ms in setting_methods.items()]
        sel = pd.concat(parts) if parts else table.iloc[:0]
        order = {m: i for i, m in enumerate(sum(setting_methods.values(), []))}
        return sel.sort_values(by=["setting", "views", "method"], key=lambda c: c.map(order) if c.name == "method" else c)

    main_methods = table_methods("main")
    main = with_paper(pick({"monocular": main_methods, "single": main_methods}), PAPER)
    ablation = with_paper(pick({"monocular": table_methods("ablation")}), PAPER_ABLATION, setting_key=False)
    multiview = with_paper(pick({"multiview": main_methods}), PAPER)
    prior_size = pick({"monocular": table_methods("prior_size")}).copy()
    prior_size.insert(2, "prior_variant", [METHODS[m].prior for m in prior_size.method])
    speed = speed_table(fits_root, summaries)
    rows = judge_all(per_image)
    verdicts = overall(rows)

    written = {}
    for name, df in [("main_table", main), ("ablation_table", ablation), ("multiview_table", multiview),
                     ("prior_size_table", prior_size), ("speed_table", speed)]:
        path = out_dir / f"{name}.csv"
        atomic_write_text(path, format_table(df).to_csv(index=False))
        written[name] = path
    atomic_write_text(out_dir / "verdicts.csv", rows.to_csv(index=False))
    atomic_write_json(out_dir / "metrics.json", metrics_json(table, verdicts))

    figs = figures.summary_figures(table, speed, out_dir / "figures", figure_inputs or {})
    rel = {cap: str(Path(p).resolve().relative_to(out_dir.resolve())) if Path(p).resolve().is_relative_to(out_dir.resolve())
           else str(p) for cap, p in figs.items()}
    text = write_report(out_dir / "report.md",
                        {"Monocular video and single image (main table)": main,
                         "Ablations (monocular video)": ablation,
                         "Multi-view": multiview,
                         "Prior size (monocular video)": prior_size},
                        implementations(summaries), verdicts, rows, rel, speed, config_summary)
    atomic_write_text(out_dir / "report.md", text)
    written["report"] = out_dir / "report.md"
    written["metrics"] = out_dir / "metrics.json"
    return written
