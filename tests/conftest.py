"""Shared test fixtures. Tests use small generated data and the real libraries."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".torch_extensions"))
# Subprocesses (Snakemake rules, DVC stages) call `gasp`, `snakemake`, `dvc`: the venv's own.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    # CI has 2 cores; keep torch from oversubscribing when pytest runs subprocesses.
    try:
        import torch
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    except ImportError:
        pass


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory) -> Path:
    """The ci preset pipeline after one `dvc repro` (tests/ci_run.py); copy it before changing it."""
    from ci_run import build

    return build(tmp_path_factory.mktemp("ci_run"))
