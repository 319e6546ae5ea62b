"""Arguments shared by command groups."""
from __future__ import annotations

import argparse

from pathlib import Path

from gasp.config import PARAMS_FILE, Config, load_config


def default_params() -> Path:
    """params.yaml of the working directory (a pipeline run, a DVC experiment), else the project's."""
    here = Path("params.yaml")
    return here if here.exists() else PARAMS_FILE


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None,
                   help="params file (default: ./params.yaml if present, else the project's params.yaml)")
    p.add_argument("--preset", default=None, help="preset in workflow/presets/ (e.g. ci, paper)")
    p.add_argument("--configfile", action="append", default=[],
                   help="extra YAML overriding params and preset (repeatable)")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.params or default_params(), args.preset, args.configfile)


def torch_setup(cfg: Config, threads: int | None = None) -> str:
    """Torch threads and the device type ("cuda" | "cpu"), by gasp/device.py's rule."""
    set_torch_threads(cfg, threads)
    from gasp.device import choose_device

    return choose_device(cfg.compute).type


def set_torch_threads(cfg: Config, override: int | None = None) -> None:
    """gasp/device.py `set_torch_threads` of the config's compute section (torch imported only here)."""
    from gasp import device

    device.set_torch_threads(cfg.compute, override)
