"""reports/report.md: every table beside the paper's numbers, the verdicts, and the figures."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from gasp.steps.report.paper import PAPER_NAME, PAPER_SPEED

NOTE = ("Our numbers are measured on our own synthetic \"pseudo-real\" subjects (held-out identities "
        "rendered with coloured non-uniform light, sensor noise, colour cast and JPEG), so they are not "
        "comparable in value with the paper's; what should reproduce is the ordering and the direction "
        "of each finding.")


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


def md_table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    if df is None or df.empty:
        return "_(no rows)_\n"
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def ours_vs_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Compact view: 'ours (+-ci) / paper' per metric."""
    if table is None or table.empty:
        return table
    out = table[[c for c in ("setting", "method", "views", "n_subjects") if c in table]].copy()
    out.insert(2, "paper method", [PAPER_NAME.get(m, m) for m in table["method"]])
    for metric, names in [("PSNR", ["PSNR"]), ("SSIM", ["SSIM"]), ("LPIPS", ["LPIPS"]),
                          ("FID", ["FID", "FD_dlib"]), ("IDSIM", ["IDSIM", "IDSIM_dlib"])]:
        name = next((n for n in names if n in table), None)
        paper = table.get(f"paper_{metric}")
        cells = []
        for i in range(len(table)):
            ours = "n/a" if name is None else _fmt(table[name].iloc[i])
            ci = table.get(f"{name}_ci95") if name else None
            if ci is not None and not (isinstance(ci.iloc[i], float) and math.isnan(ci.iloc[i])):
                ours += f" ± {_fmt(ci.iloc[i])}"
            p = "–" if paper is None else _fmt(paper.iloc[i]).replace("n/a", "–")
            cells.append(f"{ours} / {p}")
        label = metric if name in (None, metric) else f"{name} (vs paper {metric})"
        out[label] = cells
    return out


def write_report(path: Path, sections: dict, implementations: dict, verdicts: pd.DataFrame,
                 verdict_rows: pd.DataFrame, figures: dict[str, str], speed: pd.DataFrame,
                 config_summary: str) -> str:
    """Render the markdown text. `sections`: title -> aggregated table (with paper_ columns)."""
    out = ["# GASP reproduction report", "", NOTE, "", f"Config: {config_summary}", ""]
    out += ["## Metric implementations", ""]
    for metric, info in implementations.items():
        out.append(f"- **{metric}**: {info}")
    out += ["", "## Did the paper's findings reproduce?", "", md_table(verdicts, ["finding", "claim", "verdict", "comparisons"]),
            "Verdicts use paired per-subject differences: *yes* = the paper's direction with a 95% interval "
            "excluding zero; *direction only* = the paper's direction within noise; *no* = the other way.", ""]
    for title, table in sections.items():
        out += [f"## {title}", "", "Cells: ours ± 95% interval over subjects / paper. `views`: *frames* = held-out "
                "frames (multi-view: held-out cameras), *ring* = 360-degree ring.", "",
                md_table(ours_vs_paper(table)), ""]
    out += ["## Speed and size", "", md_table(speed),
            f"Paper: {PAPER_SPEED['render_fps']:.0f} fps on an {PAPER_SPEED['render_device']}, fitting about "
            f"{PAPER_SPEED['fit_minutes']:.0f} min, about {PAPER_SPEED['avatar_MB']:.0f} MB per avatar, prior "
            f"training {PAPER_SPEED['prior_training']}.", ""]
    if figures:
        out += ["## Figures", ""]
        for caption, rel in figures.items():
            out += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    out += ["## All comparisons", "", md_table(verdict_rows, ["finding", "setting", "views", "metric", "verdict", "detail"])]
    return "\n".join(out) + "\n"
