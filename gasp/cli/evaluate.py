"""`gasp evaluate` (one fitted avatar on its held-out views) and `gasp report` (all tables)."""
from __future__ import annotations

import json
from pathlib import Path

from gasp.cli.common import add_config_args, config_from_args, set_torch_threads
from gasp.methods import METHODS, SETTINGS


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of one fitted avatar on its subject's held-out views")
    p.add_argument("subject_dir", help="eval subject folder (dataset format)")
    p.add_argument("--avatar", required=True, help="avatar.npz from `gasp fit`")
    p.add_argument("--setting", required=True, choices=SETTINGS)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--out", required=True, help="output folder (images.csv, features.npz, summary.json)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads: the job's share of the cores (overrides compute.threads)")
    add_config_args(p)
    p.set_defaults(func=_evaluate)

    r = sub.add_parser("report", help="aggregate all evaluations into reports/*.csv, report.md, figures")
    r.add_argument("--metrics", default="results/metrics", help="folder of `gasp evaluate` outputs")
    r.add_argument("--fits", default="results/fits", help="folder of `gasp fit` outputs")
    r.add_argument("--out", default="reports")
    r.add_argument("--figure", action="append", default=[], metavar="CAPTION=PATH",
                   help="a figure made by another stage to include (repeatable)")
    add_config_args(r)
    r.set_defaults(func=_report)


def _evaluate(args) -> int:
    from gasp.steps.evaluate import evaluate

    cfg = config_from_args(args)
    set_torch_threads(cfg, args.threads)
    summary = evaluate(args.subject_dir, args.avatar, args.setting, args.method, cfg, args.out)
    print(json.dumps({k: summary[k] for k in ("subject", "setting", "method", "n_images", "render_fps")}))
    return 0


def _report(args) -> int:
    from gasp.steps.evaluate import report_frechet
    from gasp.steps.report.build import build

    cfg = config_from_args(args)
    figures = {}
    for item in args.figure:
        caption, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"gasp report: --figure expects CAPTION=PATH, got {item!r}")
        figures[caption] = Path(path)
    summary = (f"{cfg.synth.prior_subjects} prior subjects x {cfg.synth.prior_views} views, "
               f"{cfg.synth.eval_subjects} eval subjects, {cfg.synth.resolution} px, UV {cfg.avatar.uv_resolution}, "
               f"prior {cfg.prior.steps} steps, fit {cfg.fit.stage1_steps}/{cfg.fit.stage2_steps}/"
               f"{cfg.fit.stage3_steps} steps")
    written = build(Path(args.metrics), Path(args.fits), Path(args.out), report_frechet(cfg), summary, figures)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0
