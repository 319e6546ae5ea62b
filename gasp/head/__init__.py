"""The parametric head model (the project's "3DMM"): geometry only, renders and trains nothing.

`build_head_model(HeadConfig)` returns a `HeadModel` (model.py): the procedural head
(procedural.py) or, when `head.model_file` is set, a FLAME-format file (flame.py).
"""
from __future__ import annotations

import functools

from gasp.config import HeadConfig
from gasp.head.model import REGIONS, HeadArrays, HeadModel

__all__ = ["REGIONS", "HeadArrays", "HeadModel", "build_head_model", "head_arrays"]


@functools.lru_cache(maxsize=4)
def _procedural(n_shape: int, n_expr: int, detail: int) -> HeadArrays:
    from gasp.head.procedural import build_arrays

    return build_arrays(n_shape, n_expr, detail)


def head_arrays(cfg: HeadConfig) -> HeadArrays:
    """The numpy arrays of the configured head model (cached per process for the procedural one)."""
    if cfg.model_file:
        from gasp.head.flame import load_flame

        return load_flame(cfg.model_file, cfg.identity_components, cfg.expression_components)
    return _procedural(cfg.identity_components, cfg.expression_components, cfg.mesh_detail)


def build_head_model(cfg: HeadConfig) -> HeadModel:
    """A fresh `HeadModel` (its own tensors, safe to move with `.to()`) for the config."""
    return HeadModel(head_arrays(cfg))
