"""Arguments shared by command groups."""
from __future__ import annotations

import argparse

from gasp.config import PARAMS_FILE, Config, load_config


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=str(PARAMS_FILE), help="params file (default: params.yaml)")
    p.add_argument("--preset", default=None, help="preset in workflow/presets/ (e.g. ci, paper)")
    p.add_argument("--configfile", action="append", default=[],
                   help="extra YAML overriding params and preset (repeatable)")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.params, args.preset, args.configfile)
