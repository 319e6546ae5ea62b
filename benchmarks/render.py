"""Benchmark: gasp.model.render's CPU backend against the peer (gsplat 1.5.3's own torch reference
patched to run on CPU, ../shared/peers), measured interleaved in one run.

    python benchmarks/render.py            # full grid N x px, 2 rounds
    python benchmarks/render.py --quick    # 5k/64 and 20k/128 (+ small fps check)

Each (config, implementation, round) runs in its own subprocess with torch.set_num_threads(T):
time = min over repetitions of forward (no backward, autograd on) and forward+backward;
peak memory = ru_maxrss at the end minus the RSS just before the first render (scene built,
libraries imported), i.e. the extra resident memory the renderer needed (includes torch's CPU
allocations; ru_maxrss is in KiB on Linux). Rounds alternate ours/peer so that drift on a shared
machine hits both. Prints a table and the ratios (peer / ours: > 1 means ours is better).
Also frames/s of no-grad rendering of 188k Gaussians at 512 px (ours).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT.parent / "shared" / "peers"

WORKER = r"""
import json, resource, sys, time
import torch
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
sys.path.insert(0, cfg["peers"])
from bench_scene import make_scene
if cfg["impl"] == "peer":
    from gsplat_torch_reference import gsplat_ref_rasterization as fn
else:
    from gasp.model.render import rasterize as fn
N, W = cfg["N"], cfg["W"]
p, vm, K = make_scene(N, W, W, requires_grad=cfg["mode"] != "nograd")
def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)
base = rss_kib()
out = {}
def run(backward):
    t = time.perf_counter()
    c, a, _ = fn(**p, viewmats=vm, Ks=K, width=W, height=W)
    if backward:
        (c.sum() + a.sum()).backward()
        for v in p.values():
            v.grad = None
    return time.perf_counter() - t
if cfg["mode"] == "nograd":
    with torch.no_grad():
        out["nograd"] = min(run(False) for _ in range(cfg["reps"]))
else:
    out["fwd"] = min(run(False) for _ in range(cfg["reps"]))
    out["fwdbwd"] = min(run(True) for _ in range(cfg["reps"]))
out["peak_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print("RESULT" + json.dumps(out))
"""


def measure(impl, N, W, mode, reps, threads, timeout):
    cfg = dict(impl=impl, N=N, W=W, mode=mode, reps=reps, threads=threads, peers=str(PEERS))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        r = subprocess.run([sys.executable, "-c", WORKER, json.dumps(cfg)], capture_output=True,
                           text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:200]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--grid", default=None, help="override the grid, e.g. 20000:128,200000:256")
    args = ap.parse_args(argv)
    if args.quick:
        grid = [(5000, 64), (20000, 128)]
        rounds, reps = args.rounds or 1, args.reps or 3
        fps_cfg = (188_000, 256)
    else:
        grid = [(n, w) for n in (5000, 20000, 100_000, 200_000) for w in (64, 128, 256)]
        rounds, reps = args.rounds or 2, args.reps or 3
        fps_cfg = (188_000, 512)
    if args.grid:
        grid = [tuple(int(v) for v in item.split(":")) for item in args.grid.split(",")]
    have_peer = (PEERS / "gsplat_torch_reference.py").exists()
    impls = ["ours", "peer"] if have_peer else ["ours"]
    print(f"torch threads {args.threads}; rounds {rounds} x reps {reps}; peer: "
          f"{'yes' if have_peer else 'missing'}; memory = ru_maxrss - RSS before first render")
    hdr = (f"{'N':>7} {'px':>4} | {'fwd ours':>9} {'fwd peer':>9} {'ratio':>6} | {'f+b ours':>9} "
           f"{'f+b peer':>9} {'ratio':>6} | {'MiB ours':>9} {'MiB peer':>9} {'ratio':>6}")
    print(hdr)
    print("-" * len(hdr))
    for N, W in grid:
        res = {i: [] for i in impls}
        for _ in range(rounds):
            for i in impls:
                res[i].append(measure(i, N, W, "grad", reps, args.threads, args.timeout))

        def agg(i, key, f=min):
            vals = [r[key] for r in res.get(i, []) if key in r]
            return f(vals) if vals else float("nan")

        fo, fp_ = agg("ours", "fwd"), agg("peer", "fwd")
        bo, bp = agg("ours", "fwdbwd"), agg("peer", "fwdbwd")
        mo, mp = agg("ours", "peak_mib", max), agg("peer", "peak_mib", max)
        errs = [r["error"] for i in impls for r in res[i] if "error" in r]
        print(f"{N:>7} {W:>4} | {fo:9.3f} {fp_:9.3f} {fp_ / fo:6.2f} | {bo:9.3f} {bp:9.3f} "
              f"{bp / bo:6.2f} | {mo:9.1f} {mp:9.1f} {mp / max(mo, 1e-9):6.2f}"
              + (f"   errors: {errs}" if errs else ""), flush=True)
    N, W = fps_cfg
    r = measure("ours", N, W, "nograd", reps, args.threads, args.timeout)
    if "nograd" in r:
        print(f"no-grad render, {N} Gaussians at {W} px (ours): {r['nograd']:.3f} s/frame = "
              f"{1.0 / r['nograd']:.2f} frames/s, peak +{r['peak_mib']:.0f} MiB")
    else:
        print(f"no-grad render failed: {r}")


if __name__ == "__main__":
    main()
