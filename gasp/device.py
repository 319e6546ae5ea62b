"""Where torch runs: the device that `compute.device` asks for and the CPU thread count (one rule for
training, fitting, evaluation and capture)."""
from __future__ import annotations

import torch

from gasp.config import ComputeConfig


def choose_device(compute: ComputeConfig, local_rank: int = 0) -> torch.device:
    """CUDA device `local_rank` when compute.device is "cuda", or "auto" with a GPU present; else the CPU.
    Raises RuntimeError when "cuda" is asked for and none is available."""
    if compute.device == "cuda" or (compute.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("compute.device = cuda, but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def set_torch_threads(compute: ComputeConfig, override: int | None = None) -> None:
    """torch CPU threads: `override` (a job's --threads, its share of the cores) else compute.threads;
    0 leaves torch's default. Oversubscribed OpenMP threads spin when Snakemake runs jobs side by side."""
    threads = override or compute.threads
    if threads > 0:
        torch.set_num_threads(threads)
