"""`gasp head ...`: statistics and a contact-sheet preview of the head model."""
from __future__ import annotations

import json
import sys

from gasp.cli.common import add_config_args, config_from_args


def register(sub) -> None:
    p = sub.add_parser("head", help="inspect the parametric head model")
    hsub = p.add_subparsers(dest="head_command", metavar="ACTION")
    hsub.required = True
    stats = hsub.add_parser("stats", help="print mesh/UV statistics as JSON")
    add_config_args(stats)
    stats.add_argument("--uv", type=int, default=None, help="UV resolution (default: avatar.uv_resolution)")
    stats.set_defaults(func=_stats)
    prev = hsub.add_parser("preview", help="write a PNG contact sheet (identities x expressions x views + UV)")
    add_config_args(prev)
    prev.add_argument("--out", required=True, help="output PNG")
    prev.add_argument("--subjects", type=int, default=4, help="rows (the first is the neutral mean head)")
    prev.add_argument("--seed", type=int, default=0)
    prev.set_defaults(func=_preview)


def _stats(args) -> int:
    from gasp.model.head import build_head_model
    from gasp.model.head.stats import head_stats

    cfg = config_from_args(args)
    res = args.uv if args.uv is not None else cfg.avatar.uv_resolution
    json.dump(head_stats(build_head_model(cfg.head), res), sys.stdout, indent=2)
    print()
    return 0


def _preview(args) -> int:
    from gasp.model.head import build_head_model
    from gasp.model.head.preview import contact_sheet

    cfg = config_from_args(args)
    contact_sheet(build_head_model(cfg.head), args.out, n_subjects=args.subjects, seed=args.seed)
    print(f"wrote {args.out}")
    return 0
