"""Prior training step cost at the ci and default presets (and any other preset named).

Prints seconds per step, images per second, peak memory and the split of a step between decode
(A = C + D(f, z)), bind (pose the mesh + Gaussians on it), render, loss and backward (+ Adam).
Data: the real prior set when --data has one, else a stand-in with the preset's subjects, cameras
and identities and blank targets (the cost does not depend on pixels).

    python benchmarks/train_step.py [--presets ci default] [--steps 10] [--data data/synth/prior]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gasp.config import load_config
from gasp.model.head import build_head_model
from gasp.steps.train_prior.batches import BatchOrder
from gasp.steps.train_prior.data import PriorData, load_prior_data
from gasp.steps.train_prior.loop import build_model
from gasp.steps.train_prior.schedule import make_optimizer
from gasp.steps.train_prior.step import Objective, Renderer, train_step
from gasp.steps.train_prior.timer import Timer


def stand_in_data(cfg, head, device) -> PriorData:
    """The preset's subjects x views: random identities, neutral expressions, cameras around the head
    (yaw over 360 degrees, the preset's pitch range), transparent targets."""
    from gasp.camera import orbit_camera

    s, rng = cfg.synth, np.random.default_rng(0)
    J, V, R = s.prior_subjects, s.prior_views, s.resolution
    cams = [orbit_camera(rng.uniform(0, 360), rng.uniform(s.pitch_min_deg, s.pitch_max_deg), s.camera_distance,
                         s.focal_mm, R, R) for _ in range(J * V)]
    K = torch.tensor(np.stack([c[0] for c in cams]), device=device).reshape(J, V, 3, 3)
    w2c = torch.tensor(np.stack([c[1] for c in cams]), device=device).reshape(J, V, 4, 4)
    zeros = lambda *shape: torch.zeros(*shape, device=device)  # noqa: E731
    pairs = torch.stack(torch.meshgrid(torch.arange(J), torch.arange(V), indexing="ij"), -1).reshape(-1, 2)
    return PriorData(dir=Path("<stand-in>"), subjects=[f"p{j:04d}" for j in range(J)], manifest_sha256="", width=R,
                     height=R, images=torch.zeros(J, V, R, R, 4, dtype=torch.uint8), K=K, w2c=w2c,
                     shape=torch.tensor(rng.standard_normal((J, head.n_shape)), dtype=torch.float32, device=device),
                     expr=zeros(J, V, head.n_expr), jaw=zeros(J, V, 3), neck=zeros(J, V, 3),
                     global_rt=zeros(J, V, 6), train_pairs=pairs, val_pairs=pairs[:0])


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench(preset: str, steps: int, data_dir: str | None, device) -> dict:
    cfg = load_config(preset=None if preset == "default" else preset)
    head = build_head_model(cfg.head).to(device)
    if data_dir and (Path(data_dir) / "manifest.json").exists():
        data, source = load_prior_data(data_dir, "all", cfg, device), data_dir
    else:
        data, source = stand_in_data(cfg, head, device), "stand-in"
    model = build_model(cfg, head, len(data.subjects)).to(device)
    optim = make_optimizer(cfg, model)
    renderer, objective = Renderer(head, data, cfg, device), Objective(cfg, model, device)
    order = BatchOrder(len(data.train_pairs), cfg.prior.batch_size, cfg.synth.seed)
    binding = model.binding
    warm = 2
    for step in range(warm):  # first steps pay one-off costs (allocations, caches)
        train_step(model, renderer, objective, optim, data.train_pairs[order.indices(step)], binding)
    timer = Timer(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(warm, warm + steps):
        train_step(model, renderer, objective, optim, data.train_pairs[order.indices(step)], binding, timer)
    wall = (time.perf_counter() - t0) / steps
    cpu = (time.process_time() - c0) / steps  # CPU seconds of this process: less sensitive to a busy machine
    split = {k: v / steps for k, v in timer.total.items()}
    return {"preset": preset, "device": str(device), "threads": torch.get_num_threads(), "data": source,
            "gaussians": model.n_gaussians, "resolution": data.width, "batch_size": cfg.prior.batch_size,
            "s_per_step": wall, "cpu_s_per_step": cpu, "images_per_s": cfg.prior.batch_size / wall,
            "load_avg_1min": os.getloadavg()[0],
            "split_s": split, "split_frac": {k: v / wall for k, v in split.items()},
            "peak_memory_mb": peak_memory_mb(device)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["ci", "default"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--data", default=None, help="a prior domain folder (manifest.json) to use instead of stand-ins")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    rows = [bench(p, args.steps, args.data, device) for p in args.presets]
    for r in rows:
        split = "  ".join(f"{k} {v * 1e3:.0f} ms ({100 * r['split_frac'][k]:.0f}%)" for k, v in r["split_s"].items())
        print(f"{r['preset']:>8}: {r['gaussians']} Gaussians, {r['resolution']} px, batch {r['batch_size']}, "
              f"{r['device']} x{r['threads']}: {r['s_per_step']:.3f} s/step ({r['cpu_s_per_step']:.3f} CPU s), "
              f"{r['images_per_s']:.1f} images/s, peak {r['peak_memory_mb']:.0f} MB, "
              f"load {r['load_avg_1min']:.1f}\n          {split}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
