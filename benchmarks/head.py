"""Head model throughput: build time, posing (meshes/s at batch 8, forward and forward+backward),
UV-512 binding time and Gaussian mapping throughput. Run: python benchmarks/head.py [--uv 512]."""
from __future__ import annotations

import argparse
import time

import torch

from gasp.config import AvatarConfig, HeadConfig
from gasp.model.gaussians import gaussians_from_attributes, template_attributes
from gasp.model.head import build_head_model
from gasp.model.head.procedural import build_arrays
from gasp.model.head.uv import uv_binding


def _timed(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uv", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    cfg = HeadConfig()
    t = time.perf_counter()
    build_arrays(cfg.identity_components, cfg.expression_components, cfg.mesh_detail)
    print(f"build procedural head (uncached): {time.perf_counter() - t:.2f} s")
    model = build_head_model(cfg)
    g = torch.Generator().manual_seed(0)
    p = model.zeros(args.batch)
    p["shape"] = torch.randn(args.batch, model.n_shape, generator=g)
    p["expr"] = torch.randn(args.batch, model.n_expr, generator=g)
    p["jaw"][:, 0] = 0.2

    def fwd():
        with torch.no_grad():
            model.verts(**p)

    def fwd_bwd():
        q = {k: v.clone().requires_grad_() for k, v in p.items()}
        model.verts(**q).sum().backward()

    dt = _timed(fwd, args.reps)
    print(f"posing, batch {args.batch}, {model.template.shape[0]} verts: {args.batch / dt:.0f} meshes/s forward "
          f"({dt * 1e3:.1f} ms/batch)")
    dt = _timed(fwd_bwd, args.reps)
    print(f"posing, batch {args.batch}: {args.batch / dt:.0f} meshes/s forward+backward ({dt * 1e3:.1f} ms/batch)")
    t = time.perf_counter()
    b = uv_binding(model, args.uv)
    print(f"UV-{args.uv} binding: {len(b)} Gaussians in {time.perf_counter() - t:.2f} s")
    attrs = template_attributes(b, AvatarConfig())
    with torch.no_grad():
        verts = model.verts(**{k: v[:1] for k, v in p.items()})
    dt = _timed(lambda: gaussians_from_attributes(attrs, verts, model.faces, b), 3)
    print(f"attributes -> world Gaussians ({len(b)}): {dt * 1e3:.0f} ms")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
