"""Synthetic-data render speed: views/s at 128 and 256 px, and per-subject overhead vs pure rendering.

Renders one prior subject per resolution in its own process (`gasp synth render --timings`), exactly
as the pipeline does, and prints per stage: assets (head model, sampling, textures, hair shell),
Blender init (import bpy/BlenderProc), scene build, render (Cycles, all views in one call), write
(PNG + JSON + npz). Overhead fractions are relative to the pure render time:
  scene+I/O  = (textures/hair + scene build + write) / render          (goal <= 25%)
  process    = (everything else, incl. bpy import and head build) / render
Each resolution is rendered `--repeats` times (alternating, so both see the same machine load) and
every stage is reported as its median: the machines are shared and single runs vary by +-30%.
Usage: python benchmarks/synth.py [--views 24] [--samples 16] [--threads 0] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(resolution: int, views: int, samples: int, threads: int, tmp: Path, attempt: int) -> dict:
    conf = tmp / f"bench{resolution}.yaml"
    conf.write_text(f"synth: {{resolution: {resolution}, prior_views: {views}, samples: {samples}}}\n")
    timings = tmp / f"t{resolution}_{attempt}.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gasp", "synth", "render", "--domain", "prior", "--subject", "p0000",
                    "--out", str(tmp / f"r{resolution}_{attempt}"), "--threads", str(threads), "--configfile",
                    str(conf), "--timings", str(timings)], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    t = json.loads(timings.read_text())
    return {"resolution": resolution, "views": t["views"], "views_per_s": t["views"] / t["render"],
            "render_s": t["render"], "assets_s": t["assets"], "head_model_s": t["head_model"],
            "blender_init_s": t["blender_init"], "scene_s": t["scene"], "write_s": t["write"], "process_wall_s": wall,
            "overhead_scene_io": (t["assets"] - t["head_model"] + t["scene"] + t["write"]) / t["render"],
            "overhead_process": (wall - t["render"]) / t["render"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    runs: dict[int, list[dict]] = {128: [], 256: []}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeats):
            for res in runs:
                runs[res].append(run(res, args.views, args.samples, args.threads, Path(tmp), attempt))
    rows = [{k: statistics.median(r[k] for r in rs) for k in rs[0]} for rs in runs.values()]
    for r in rows:
        print(f"{r['resolution']:4.0f} px  {r['views_per_s']:.2f} views/s ({r['render_s']:.1f} s for {r['views']:.0f} views)  "
              f"scene+I/O overhead {100 * r['overhead_scene_io']:.0f}%  whole-process overhead "
              f"{100 * r['overhead_process']:.0f}%  [head {r['head_model_s']:.1f} s, textures+hair "
              f"{r['assets_s'] - r['head_model_s']:.1f} s, bpy init {r['blender_init_s']:.1f} s, "
              f"scene {r['scene_s']:.1f} s, write {r['write_s']:.1f} s]")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
