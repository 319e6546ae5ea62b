"""`gasp weights ...`: fetch the pretrained metric weights, or show which metric implementations run."""
from __future__ import annotations

import json
import sys

from gasp.cli.common import add_config_args, config_from_args


def register(sub) -> None:
    p = sub.add_parser("weights", help="pretrained weights of LPIPS, FID and ArcFace")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    wsub.required = True
    dl = wsub.add_parser("download", help="fetch the weights into --dir (default metrics.weights_dir); needs internet")
    add_config_args(dl)
    dl.add_argument("--dir", default=None, help="target folder (default: metrics.weights_dir)")
    dl.set_defaults(func=_download)
    st = wsub.add_parser("status", help="print (JSON) which implementation each metric will use and why")
    add_config_args(st)
    st.set_defaults(func=_status)


def _download(args) -> int:
    from gasp.metrics import weights

    cfg = config_from_args(args).metrics
    target = args.dir or cfg.weights_dir
    try:
        manifest = weights.download(target, weights.needed_keys(cfg.lpips_net))
    except weights.DownloadError as e:
        print(f"gasp weights download: {e}", file=sys.stderr)
        return 1
    for name, entry in sorted(manifest.items()):
        print(f"{entry['sha256']}  {target}/{name}")
    return 0


def _status(args) -> int:
    from gasp.metrics.suite import MetricSuite

    cfg = config_from_args(args).metrics
    json.dump({"weights_dir": cfg.weights_dir, "metrics": MetricSuite(cfg).status()}, sys.stdout, indent=2)
    print()
    return 0
