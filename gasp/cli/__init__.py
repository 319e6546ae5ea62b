"""`gasp` command line: parses arguments and calls the library. Core modules know no command line.

Each command group lives in its own module here and exposes `register(subparsers)`; add a new
group to GROUPS. Imports of heavy libraries happen inside the command functions so `gasp --help`
stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from gasp.config import ConfigError

GROUPS = ["config", "head", "prior", "weights", "synth", "evaluate", "fit", "capture", "view"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gasp", description="GASP pipeline: synthetic faces, Gaussian-avatar prior, fitting, metrics, reports.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in GROUPS:
        importlib.import_module(f"gasp.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"gasp: config error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
