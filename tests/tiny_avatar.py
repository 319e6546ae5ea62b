"""The small test avatar several test files share: template Gaussians on the ci head (UV 48, ~1.6k)
with distinct colours and opacities and an offset MLP, no fitting needed."""
from __future__ import annotations

import torch

from gasp.config import load_config
from gasp.model.fitted_avatar import Avatar, OffsetMLP
from gasp.model.gaussians import template_attributes
from gasp.model.head import build_head_model
from gasp.model.head.uv import uv_binding


def tiny_avatar(seed: int = 0) -> Avatar:
    cfg = load_config(preset="ci")
    head = build_head_model(cfg.head)
    binding = uv_binding(head, cfg.avatar.uv_resolution)
    attrs = template_attributes(binding, cfg.avatar).clone()
    gen = torch.Generator().manual_seed(seed)
    attrs[:, 11:14] += torch.randn(len(attrs), 3, generator=gen)  # distinct colours per Gaussian
    attrs[:, 10] += torch.randn(len(attrs), generator=gen)        # and opacities
    mlp = OffsetMLP(head.n_expr + 3)
    torch.nn.init.normal_(mlp.out.weight, std=0.05, generator=gen)
    return Avatar(attrs, binding, torch.zeros(head.n_shape), cfg.head, cfg.avatar, list(head.REGIONS), mlp,
                  {"method": "test"})
