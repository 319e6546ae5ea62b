"""Summary figures of the report: metric bars with 95% intervals, speed; plus copies of the figures
other stages made (qualitative grid, turntable strip, feature PCA, training curves) so that
reports/ is self-contained."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from gasp.io import atomic_path  # noqa: E402


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def metric_bars(table: pd.DataFrame, path: Path) -> Path | None:
    """PSNR (and LPIPS or SSIM) per method, one panel per (setting, views), with 95% intervals."""
    if table.empty:
        return None
    second = "LPIPS" if "LPIPS" in table else "SSIM"
    cells = list(table.groupby(["setting", "views"], sort=False))
    fig, axes = plt.subplots(2, len(cells), figsize=(3.2 * len(cells), 5.5), squeeze=False)
    for j, ((setting, views), g) in enumerate(cells):
        for i, metric in enumerate(["PSNR", second]):
            ax = axes[i, j]
            if metric not in g:
                ax.axis("off")
                continue
            err = g.get(f"{metric}_ci95")
            yerr = None if err is None else [0 if (isinstance(e, float) and math.isnan(e)) else e for e in err]
            ax.bar(range(len(g)), g[metric], yerr=yerr, capsize=3,
                   color=["tab:red" if m == "gasp" else "tab:gray" for m in g.method])
            ax.set_xticks(range(len(g)), g.method, rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{setting} / {views}", fontsize=8)
            ax.set_ylabel(metric + (" (lower better)" if metric == "LPIPS" else ""), fontsize=8)
            if metric == "PSNR":
                lo = max(0.0, float(g[metric].min()) - 3)
                ax.set_ylim(lo, float(g[metric].max()) + 2)
    fig.suptitle("Metrics per method (mean over subjects, 95% interval)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def speed_bars(speed: pd.DataFrame, path: Path) -> Path | None:
    if speed.empty:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for ax, col, label in zip(axes, ["fit_minutes", "render_fps", "avatar_MB"],
                              ["fit time (min)", "render frames/s", "avatar size (MB)"]):
        ax.bar(range(len(speed)), speed[col].fillna(0))
        ax.set_xticks(range(len(speed)), speed.method, rotation=60, ha="right", fontsize=7)
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def summary_figures(table: pd.DataFrame, speed: pd.DataFrame, fig_dir: Path,
                    inputs: dict[str, Path]) -> dict[str, Path]:
    """Make the summary figures and copy the given ones (caption -> path); return caption -> path."""
    fig_dir = Path(fig_dir)
    out: dict[str, Path] = {}
    p = metric_bars(table, fig_dir / "metrics.png")
    if p:
        out["Metrics per method"] = p
    p = speed_bars(speed, fig_dir / "speed.png")
    if p:
        out["Speed and size"] = p
    for caption, src in inputs.items():
        src = Path(src)
        if not src.exists():
            continue
        dst = fig_dir / src.name
        if src.resolve() != dst.resolve():
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        out[caption] = dst
    return out
