"""`gasp capture`, `gasp avatar`, `gasp register-landmarks`: real photos and videos in (gasp/capture/)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gasp.cli.common import add_config_args, config_from_args, set_torch_threads, torch_setup


def _input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="an image, a folder of images, or a video (mp4, mov, webm, avi, gif)")
    p.add_argument("--out", required=True, help="output folder (must be new or empty, unless --overwrite)")
    p.add_argument("--face", type=int, default=None,
                   help="which face when there are several: 0 = the largest (default), 1 = the next, ...")
    p.add_argument("--focal-35mm", type=float, default=None,
                   help="the camera's focal length, 35 mm equivalent (default: EXIF, else 26 mm, a phone's main camera)")
    p.add_argument("--max-frames", type=int, default=48, help="video frames used, sampled evenly (default 48)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_args(p)


def register(sub) -> None:
    p = sub.add_parser("capture", help="a photo or video of a face -> a subject folder (frames, alpha, cameras, "
                                       "tracked head parameters) that fit/evaluate/export read")
    _input_args(p)
    p.set_defaults(func=_capture)

    p = sub.add_parser("avatar", help="a photo or video of a face -> a fitted 360-degree avatar (npz, ply, turntable, "
                                      "preview, summary)")
    _input_args(p)
    p.add_argument("--prior", default=None, help="prior checkpoint (default models/prior/all/prior.pt, from `make run`)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (overrides compute.threads)")
    p.set_defaults(func=_avatar)

    p = sub.add_parser("register-landmarks", help="rebuild the FaceMesh -> head-model landmark map from rendered "
                                                  "subjects (after a change of the head model)")
    p.add_argument("subjects", nargs="+", help="subject folders, or dataset domain folders holding them")
    p.add_argument("--out", default=None, help="map file (default: gasp/capture/facemesh_map.npz)")
    p.add_argument("--max-yaw", type=float, default=30.0, help="use views whose head turns at most this far (degrees)")
    add_config_args(p)
    p.set_defaults(func=_register)


def _errors(func):
    """Bad input -> one line naming the file (and frame) and what is wrong; exit status 2."""
    def run(args: argparse.Namespace) -> int:
        from gasp.capture.media import CaptureError
        from gasp.data import DataError
        from gasp.model.fitted_avatar import AvatarError
        from gasp.model.prior import CheckpointError
        from gasp.steps.fit import FitError

        try:
            return func(args)
        except (CaptureError, AvatarError, DataError, FitError, CheckpointError) as e:
            print(f"gasp {args.command}: {e}", file=sys.stderr)
            return 2
    return run


@_errors
def _capture(args: argparse.Namespace) -> int:
    from gasp.capture.capture import capture

    cfg = config_from_args(args)
    set_torch_threads(cfg)
    res = capture(args.input, args.out, cfg, face=args.face, focal_35mm=args.focal_35mm, max_frames=args.max_frames,
                  overwrite=args.overwrite, progress=not args.no_progress)
    s = res.summary
    for note in s["notes"]:
        print(f"note: {note}")
    print(f"wrote {res.subject_dir}: {s['frames_used']} of {s['frames_read']} frame(s) with a face "
          f"({len(s['frames_skipped'])} skipped), landmark error {s['landmark_reproj_px']['mean']:.2f} px, "
          f"focal {s['focal_px']:.0f} px ({s['focal_source']}), {s['timings_s']['total_s']:.1f} s")
    return 0


@_errors
def _avatar(args: argparse.Namespace) -> int:
    from gasp.capture.make_avatar import make_avatar

    cfg = config_from_args(args)
    device = torch_setup(cfg, args.threads)
    s = make_avatar(args.input, args.out, cfg, prior=args.prior, face=args.face, focal_35mm=args.focal_35mm,
                    max_frames=args.max_frames, overwrite=args.overwrite, progress=not args.no_progress,
                    device=device)
    out = Path(args.out)
    held, held_tracked = s["psnr_heldout_frames_db"], s["psnr_heldout_frames_tracked_poses_db"]
    print(f"PSNR {s['psnr_input_frames_db']:.2f} dB on the input frame(s)"
          + (f", {held:.2f} dB on the held-out frames ({held_tracked:.2f} at their tracked poses, before aligning "
             f"them to the avatar)" if held is not None else ""))
    print(f"time: " + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in s["seconds"].items()))
    print(f"wrote {out}/: avatar.npz ({s['avatar_bytes'] / 1e6:.2f} MB, {s['n_gaussians']} Gaussians), avatar.ply, "
          f"turntable.mp4, preview.png, summary.json")
    print(f"look at it in a browser: {s['view']}")
    return 0


@_errors
def _register(args: argparse.Namespace) -> int:
    import numpy as np

    from gasp.capture.correspondence import MAP_FILE, register

    cfg = config_from_args(args)
    dirs = []
    for d in map(Path, args.subjects):
        dirs += [d] if (d / "cameras.json").exists() else sorted(p.parent for p in d.glob("*/cameras.json"))
    if not dirs:
        raise SystemExit(f"gasp register-landmarks: no subject folders in {' '.join(args.subjects)}")
    lmap, report = register(dirs, cfg.head, max_yaw_deg=args.max_yaw)
    out = Path(args.out) if args.out else MAP_FILE
    lmap.save(out)
    reliable = int((lmap.weights() > 0.5).sum())
    print(f"wrote {out}: {report['views_used']} views of {len(dirs)} subjects ({report['views_without_face']} without "
          f"a face); {reliable} of {len(lmap.points)} landmarks reliable (weight > 0.5); median spread "
          f"{float(np.median(lmap.spread_mm)):.2f} mm; framing {lmap.meta['framing']}")
    return 0
