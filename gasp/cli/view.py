"""`gasp view`: an avatar in the browser (orbit, zoom, play its motion), served locally or exported."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gasp.cli.common import add_config_args, config_from_args


def register(sub) -> None:
    p = sub.add_parser("view", help="look at an avatar in a web browser (local server, or --export a static page)")
    p.add_argument("avatar", help="avatar.npz")
    p.add_argument("--motion", default=None,
                   help="params .npz (expr, jaw, neck, global_rt per frame) or a subject folder (its video, or a "
                        "capture's photo); "
                        "default: a built-in expression loop")
    p.add_argument("--fps", type=float, default=None, help="playback frames/s (default 24; built-in loop 16)")
    p.add_argument("--export", default=None, metavar="DIR", help="write the page as a static folder instead of serving")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    add_config_args(p)
    p.set_defaults(func=_view)


def _view(args: argparse.Namespace) -> int:
    import tempfile

    from gasp.data import DataError, load_subject
    from gasp.metrics.images import background_rgb
    from gasp.model.fitted_avatar import Avatar, AvatarError, Motion
    from gasp.viewer.page import export_page

    cfg = config_from_args(args)
    try:
        avatar = Avatar.load(args.avatar)
        motion = name = None
        if args.motion:
            src = Path(args.motion)
            motion = Motion.of_subject(load_subject(src, images=False)) if src.is_dir() else Motion.from_npz(src)
            name = src.name
            if motion.expr.shape[1] != avatar.head.n_expr:
                raise AvatarError(f"{src}: expr: {motion.expr.shape[1]} coefficients, the avatar's head model "
                                  f"{avatar.head.n_expr}")
    except (AvatarError, DataError) as e:
        print(f"gasp view: {e}", file=sys.stderr)
        return 2
    camera = {"distance": cfg.synth.camera_distance, "focal_mm": cfg.synth.focal_mm}
    with tempfile.TemporaryDirectory(prefix="gasp-view-") as tmp:
        out = Path(args.export or tmp)
        bundle, sizes = export_page(avatar, out, motion, args.fps, name, background_rgb(cfg.eval.background), camera)
        m = bundle.manifest
        data = sizes["avatar.bin.gz"] + sizes["motion.bin.gz"] + sizes["avatar.json"]
        print(f"{m['n_gaussians']} Gaussians, motion {m['motion']!r}: {m['n_frames']} frames at {m['fps']:g} fps; "
              f"download {data / 1e6:.2f} MB of avatar data + {(sum(sizes.values()) - data) / 1e6:.1f} MB viewer")
        if m["sh_degree"] > 0:
            print(f"note: the page shows the SH degree 0 colour (the avatar has degree {m['sh_degree']})")
        if args.export:
            print(f"wrote {out}/index.html (serve the folder with any web server, e.g. "
                  f"python -m http.server -d {out})")
            return 0
        from gasp.viewer.server import PageServer

        try:
            server = PageServer(out, args.host, args.port)
        except OSError as e:
            print(f"gasp view: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
            return 2
        print(f"viewer at {server.url}  (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped")
        finally:
            server.close()
    return 0
