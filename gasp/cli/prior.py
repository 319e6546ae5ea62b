"""`gasp train-prior ...` and `gasp prior inspect CKPT`: train a prior variant, inspect its features."""
from __future__ import annotations

import dataclasses
import os
import sys

from gasp.cli.common import add_config_args, config_from_args, default_params
from gasp.methods import PRIOR_VARIANTS


def register(sub) -> None:
    t = sub.add_parser("train-prior", help="train one prior variant on the synthetic prior set")
    t.add_argument("--data", required=True, help="prior domain folder (has manifest.json), e.g. data/synth/prior")
    t.add_argument("--variant", required=True, choices=PRIOR_VARIANTS,
                   help="subjects: all, prior.few_subjects, or 1 (the first ones of the manifest)")
    t.add_argument("--out", required=True, help="output folder, e.g. models/prior/all")
    t.add_argument("--nproc", type=int, default=1,
                   help="processes (GPUs); above 1 relaunches itself under torchrun with DistributedDataParallel")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (overrides compute.threads)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_args(t)
    t.set_defaults(func=_train)

    p = sub.add_parser("prior", help="inspect a trained prior")
    psub = p.add_subparsers(dest="prior_command", metavar="ACTION")
    psub.required = True
    i = psub.add_parser("inspect", help="PCA-of-features figures and the k-NN region probe (JSON)")
    i.add_argument("checkpoint", help="prior.pt")
    i.add_argument("--out", required=True, help="output folder for figures and probe.json")
    i.add_argument("--k", type=int, default=5, help="neighbours of the k-NN probe")
    i.set_defaults(func=_inspect)


def _train(args) -> int:
    cfg = config_from_args(args)  # validate before any relaunch
    if args.threads is not None:
        cfg = dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, threads=args.threads))
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        argv = ["--data", args.data, "--variant", args.variant, "--out", args.out, "--params", str(args.params or default_params())]
        argv += (["--preset", args.preset] if args.preset else []) + [x for f in args.configfile
                                                                       for x in ("--configfile", f)]
        argv += ["--no-progress"] if args.no_progress else []
        argv += ["--threads", str(args.threads)] if args.threads is not None else []
        os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  f"--nproc_per_node={args.nproc}", "-m", "gasp.steps.train_prior", *argv])
    from gasp.data import DataError
    from gasp.model.prior import CheckpointError
    from gasp.steps.train_prior.loop import train

    try:
        path = train(cfg, args.data, args.variant, args.out, progress=not args.no_progress)
    except (DataError, CheckpointError) as e:
        print(f"gasp train-prior: {e}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(f"wrote {path}")
    return 0


def _inspect(args) -> int:
    import json

    from gasp.steps.inspect_prior import inspect_prior

    from gasp.model.prior import CheckpointError

    try:
        result = inspect_prior(args.checkpoint, args.out, k=args.k)
    except CheckpointError as e:
        print(f"gasp prior inspect: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result["probe"], indent=2))
    return 0
