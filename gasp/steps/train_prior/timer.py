"""Accumulated wall time per named section, for benchmarks/train_step.py."""
from __future__ import annotations

import contextlib
import time

import torch


class Timer:
    """Accumulated wall time per named section (CUDA-synchronised), for benchmarks/train_step.py."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.total: dict[str, float] = {}

    @contextlib.contextmanager
    def section(self, name: str):
        if self.cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        yield
        if self.cuda:
            torch.cuda.synchronize()
        self.total[name] = self.total.get(name, 0.0) + time.perf_counter() - t


def section(timer: Timer | None, name: str):
    return timer.section(name) if timer is not None else contextlib.nullcontext()
