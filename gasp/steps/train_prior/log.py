"""train_log.csv and the loss curve."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from gasp.io import atomic_path, atomic_write_text

# Loss columns are weighted terms (they sum to `loss`); l1 and psnr are unweighted, for reading.
LOG_FIELDS = ["step", "epoch", "loss", "photo", "alpha", "lpips", "scale", "disp", "latent", "l1", "psnr",
              "images_per_s", "elapsed_s"]
LOSS_FIELDS = LOG_FIELDS[2:11]


def write_log_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def read_log_csv(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def plot_loss_curve(rows: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in ("loss", "photo", "alpha", "lpips", "disp", "scale"):
        ys = [r[k] for r in rows]
        if any(y > 0 for y in ys):
            ax.plot(steps, ys, label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    ax.set_title(f"{title} losses")
    ax2.plot(steps, [r["psnr"] for r in rows], color="k")
    ax2.set_xlabel("step")
    ax2.set_ylabel("train PSNR (dB)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
