"""The global data order of prior training."""
from __future__ import annotations

import functools

import torch
from torch import Tensor


class BatchOrder:
    """The global data order: epochs of seeded permutations of the training pairs, concatenated.

    The batch of step s is items [s*B, (s+1)*B) of that sequence: a pure function of (seed, s),
    so a resumed run continues at the same position without saved sampler state.
    """

    def __init__(self, n_pairs: int, batch_size: int, seed: int):
        self.n, self.batch, self.seed = n_pairs, batch_size, seed

    @functools.lru_cache(maxsize=4)
    def _perm(self, epoch: int) -> Tensor:
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))

    def indices(self, step: int) -> Tensor:
        """(B,) indices into the training pairs for step `step` (0-based)."""
        pos = torch.arange(step * self.batch, (step + 1) * self.batch)
        return torch.stack([self._perm(int(p) // self.n)[int(p) % self.n] for p in pos])

    def epoch(self, step: int) -> int:
        return step * self.batch // self.n
