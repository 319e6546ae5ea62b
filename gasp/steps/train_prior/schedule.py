"""The optimiser of prior training and its learning-rate schedule."""
from __future__ import annotations

import torch

from gasp.config import Config
from gasp.model.prior import GaspPrior


def make_optimizer(cfg: Config, model: GaspPrior) -> torch.optim.Optimizer:
    p = cfg.prior
    return torch.optim.Adam([{"params": model.decoder_parameters(), "lr": p.lr_decoder}, {"params": [model.latents], "lr": p.lr_latent},
                             {"params": [model.features], "lr": p.lr_features},
                             {"params": [model.template], "lr": p.lr_template}])


def set_learning_rates(optim: torch.optim.Optimizer, base: list[float], step: int, steps: int, decay: float) -> None:
    """Exponential decay from the configured rates to `decay` times them at the last step (a function of
    the step alone, so a resumed run needs no scheduler state)."""
    factor = decay ** (step / max(steps - 1, 1))
    for group, lr in zip(optim.param_groups, base):
        group["lr"] = lr * factor
