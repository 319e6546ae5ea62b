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
    """Torch threads (set_torch_threads) and the device: "cuda" when compute.device asks for it or is
    "auto" with a GPU present, else "cpu"."""
    import torch

    set_torch_threads(cfg, threads)
    if cfg.compute.device == "cuda" or (cfg.compute.device == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def set_torch_threads(cfg: Config, override: int | None = None) -> None:
    """torch CPU threads: `override` (a job's --threads, its share of the cores) else compute.threads;
    0 leaves torch's default. Oversubscribed OpenMP threads spin when Snakemake runs jobs side by side."""
    import torch

    threads = override or cfg.compute.threads
    if threads > 0:
        torch.set_num_threads(threads)
