"""`gasp fit`, `gasp export`, `gasp turntable`, `gasp animate`, `gasp fit-figure`: avatars from the dataset."""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from gasp.cli.common import add_config_args, config_from_args, torch_setup
from gasp.methods import METHODS, SETTINGS


def register(sub) -> None:
    p = sub.add_parser("fit", help="fit an avatar to one eval subject (three stages, or a baseline)")
    p.add_argument("subject_dir", help="subject folder in the dataset format (data/synth/eval/<subject>)")
    p.add_argument("--setting", required=True, choices=SETTINGS)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--prior", default=None, help="prior checkpoint (methods that fit through the prior)")
    p.add_argument("--out", required=True, help="output folder: avatar.npz, fit_log.csv, fit.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (overrides compute.threads)")
    add_config_args(p)
    p.set_defaults(func=_fit)

    p = sub.add_parser("export", help="write a fitted avatar as a standard 3D Gaussian Splatting .ply")
    p.add_argument("avatar", help="avatar.npz")
    p.add_argument("--ply", default=None, help="output .ply (x y z nx ny nz f_dc_* f_rest_* opacity scale_* rot_*)")
    p.add_argument("--expression", default=None, help="comma-separated expression coefficients (default neutral)")
    p.add_argument("--jaw", default=None, help="comma-separated jaw axis-angle (3 values)")
    p.add_argument("--npz", default=None, help="also re-save the avatar package here (e.g. with --half)")
    p.add_argument("--half", action="store_true",
                   help="--npz with float16 attributes (PLY has no standard 16-bit float type)")
    p.set_defaults(func=_export)

    for name, help_ in (("turntable", "render a 360-degree turntable video of an avatar"),
                        ("animate", "drive an avatar with an expression/pose sequence (cross-reenactment)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("avatar", help="avatar.npz")
        p.add_argument("--out", required=True, help="video file (.mp4 or .gif)")
        p.add_argument("--size", type=int, default=None, help="image size in pixels (default synth.resolution)")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads (overrides compute.threads)")
        if name == "turntable":
            p.add_argument("--frames", type=int, default=None, help="frames (default report.turntable_frames)")
        else:
            p.add_argument("--motion", "--drive", dest="drive", required=True,
                           help="params .npz (expr, jaw, neck, global_rt per frame) or a subject folder: a capture "
                                "(gasp capture) or a synthetic eval subject (its video frames, else its single image)")
        add_config_args(p)
        p.set_defaults(func=_turntable if name == "turntable" else _animate)

    p = sub.add_parser("fit-figure", help="input frame, then each method's avatar from the front, side and back")
    p.add_argument("subject_dir")
    p.add_argument("--fits", default="results/fits", help="folder of <setting>/<method>/<subject>/avatar.npz")
    p.add_argument("--setting", default="monocular", choices=SETTINGS)
    p.add_argument("--methods", nargs="*", default=None, help="default: every method fitted for the subject")
    p.add_argument("--out", required=True, help="output .png")
    add_config_args(p)
    p.set_defaults(func=_figure)


def _clear_errors(func):
    """Bad input (dataset, checkpoint, avatar file, drive sequence) -> one line naming the file and field."""
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from gasp.data import DataError
        from gasp.model.fitted_avatar import AvatarError
        from gasp.model.prior import CheckpointError
        from gasp.steps.fit import FitError

        try:
            return func(args)
        except (AvatarError, DataError, FitError, CheckpointError) as e:
            print(f"gasp {args.command}: {e}", file=sys.stderr)
            return 2
    return run


@_clear_errors
def _fit(args: argparse.Namespace) -> int:
    import json
    import time

    import torch

    from gasp.data import load_subject
    from gasp.io import atomic_write_json, atomic_write_text
    from gasp.metrics.images import background_rgb
    from gasp.model.prior import GaspPrior
    from gasp.steps.fit import fit, log_csv, method_spec

    cfg = config_from_args(args)
    device = torch_setup(cfg, args.threads)
    spec = method_spec(args.method)
    t0 = time.perf_counter()
    subject = load_subject(args.subject_dir)
    prior, prior_meta = None, {}
    if spec.from_prior:
        if not args.prior:
            raise SystemExit(f"gasp fit: method {args.method!r} needs --prior CKPT")
        prior, prior_meta = GaspPrior.load(args.prior)
    load_s = time.perf_counter() - t0
    print(f"fit {args.method} / {args.setting} / {subject.id} on {device} ({torch.get_num_threads()} threads)")
    res = fit(subject, args.setting, args.method, cfg, prior, device=device, seed=args.seed, echo=print)
    n_mlp = 0 if res.avatar.mlp is None else sum(p.numel() for p in res.avatar.mlp.parameters())
    meta = {
        "method": args.method, "setting": args.setting, "subject": subject.id, "subject_dir": str(args.subject_dir),
        "prior": args.prior if spec.from_prior else None,
        "prior_meta": {k: v for k, v in prior_meta.items() if isinstance(v, (str, int, float, bool))},
        "stages": [vars(s) for s in res.stages], "fit_seconds": res.seconds, "load_seconds": load_s,
        "n_gaussians": res.avatar.n_gaussians, "lpips": res.lpips, "device": device, "threads": torch.get_num_threads(),
        "network": "none" if n_mlp == 0 else f"expression-conditioned offset MLP, {n_mlp} weights, per frame",
        "background": list(background_rgb(cfg.eval.background)), "fit_config": cfg.to_dict()["fit"],
        "avatar_config": cfg.to_dict()["avatar"],
    }
    res.avatar.meta = meta
    out = Path(args.out)
    size = res.avatar.save(out / "avatar.npz")
    atomic_write_text(out / "fit_log.csv", log_csv(res.log))
    atomic_write_json(out / "fit.json", {**meta, "avatar_bytes": size})
    per_stage = ", ".join(f"{s.name} {s.seconds:.1f} s" for s in res.stages)
    print(f"fit time: {per_stage}; total {res.seconds:.1f} s (+ {load_s:.1f} s loading); "
          f"{res.avatar.n_gaussians} Gaussians; wrote {out / 'avatar.npz'} ({size / 1e6:.2f} MB)")
    return 0


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"gasp export: {what}: expected comma-separated numbers, got {text!r}") from None


@_clear_errors
def _export(args: argparse.Namespace) -> int:
    import numpy as np

    from gasp.model.fitted_avatar import Avatar, Motion
    from gasp.steps.export import export_ply

    if not args.ply and not args.npz:
        raise SystemExit("gasp export: give --ply OUT.ply and/or --npz OUT.npz")
    if args.half and not args.npz:
        raise SystemExit("gasp export: --half applies to --npz (PLY has no standard 16-bit float type)")
    avatar = Avatar.load(args.avatar)
    motion = Motion.neutral(1, avatar.head.n_expr)
    expr, jaw = _floats(args.expression, "--expression"), _floats(args.jaw, "--jaw")
    if expr is not None:
        if len(expr) > avatar.head.n_expr:
            raise SystemExit(f"gasp export: --expression has {len(expr)} values, the head model {avatar.head.n_expr}")
        motion.expr[0, :len(expr)] = expr
    if jaw is not None:
        if len(jaw) != 3:
            raise SystemExit("gasp export: --jaw needs 3 values (axis-angle)")
        motion.jaw[0] = np.asarray(jaw, np.float32)
    if args.ply:
        size = export_ply(avatar, args.ply, motion)
        print(f"wrote {args.ply}: {avatar.n_gaussians} Gaussians, {size / 1e6:.2f} MB")
    if args.npz:
        size = avatar.save(args.npz, half=args.half)
        print(f"wrote {args.npz}{' (float16)' if args.half else ''}: {size / 1e6:.2f} MB")
    return 0


@_clear_errors
def _turntable(args: argparse.Namespace) -> int:
    from gasp.metrics.images import background_rgb
    from gasp.model.fitted_avatar import Avatar
    from gasp.steps.export import turntable

    cfg = config_from_args(args)
    avatar = Avatar.load(args.avatar, torch_setup(cfg, args.threads))
    frames = args.frames or cfg.report.turntable_frames
    fps = turntable(avatar, args.out, frames, cfg.synth.camera_distance, cfg.synth.focal_mm,
                    args.size or cfg.synth.resolution, background=background_rgb(cfg.eval.background))
    print(f"wrote {args.out}: {frames} frames, {avatar.n_gaussians} Gaussians, rendering {fps:.1f} frames/s")
    return 0


@_clear_errors
def _animate(args: argparse.Namespace) -> int:
    from gasp.data import load_subject
    from gasp.metrics.images import background_rgb
    from gasp.model.fitted_avatar import Avatar, Motion
    from gasp.steps.export import animate

    cfg = config_from_args(args)
    avatar = Avatar.load(args.avatar, torch_setup(cfg, args.threads))
    drive = Path(args.drive)
    motion = Motion.of_subject(load_subject(drive, images=False)) if drive.is_dir() else Motion.from_npz(drive)
    fps = animate(avatar, motion, args.out, cfg.synth.camera_distance, cfg.synth.focal_mm,
                  args.size or cfg.synth.resolution, background=background_rgb(cfg.eval.background))
    print(f"wrote {args.out}: {len(motion)} frames driven by {drive}, rendering {fps:.1f} frames/s")
    return 0


@_clear_errors
def _figure(args: argparse.Namespace) -> int:
    from gasp.data import load_subject
    from gasp.metrics.images import background_rgb, composite_rgba
    from gasp.model.fitted_avatar import Avatar
    from gasp.steps.export import methods_figure
    from gasp.steps.fit import fit_views

    cfg = config_from_args(args)
    device = torch_setup(cfg)
    subject = load_subject(args.subject_dir)
    views = fit_views(subject, args.setting)
    bg = background_rgb(cfg.eval.background)
    input_rgb = composite_rgba(views.images[0], bg)
    root = Path(args.fits) / args.setting
    methods = args.methods or [m for m in METHODS if (root / m / subject.id / "avatar.npz").exists()]
    if not methods:
        raise SystemExit(f"gasp fit-figure: no avatar.npz under {root}/<method>/{subject.id}/")
    avatars = {m: Avatar.load(root / m / subject.id / "avatar.npz", device) for m in methods}
    methods_figure(input_rgb, avatars, args.out, cfg.synth.camera_distance, cfg.synth.focal_mm, subject.width,
                   background=bg, title=f"{subject.id}, {args.setting}")
    print(f"wrote {args.out}: {len(methods)} methods")
    return 0
