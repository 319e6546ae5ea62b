"""The parametric head model (the project's "3DMM"): geometry only, renders and trains nothing.

`build_head_model(HeadConfig)` returns a `HeadModel` (model.py): the procedural head
(procedural.py) or, when `head.model_file` is set, a FLAME-format file (flame.py).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from gasp.config import ROOT, HeadConfig
from gasp.model.head.model import REGIONS, HeadArrays, HeadModel

__all__ = ["REGIONS", "HeadArrays", "HeadModel", "build_head_model", "head_arrays"]


CACHE_DIR = ROOT / ".cache" / "head"


def _cache_path(n_shape: int, n_expr: int, detail: int) -> Path:
    """Building the procedural head takes seconds, in every render/fit/evaluate process: keep the
    arrays on disk, keyed by the sizes and a hash of this package's code (any edit rebuilds)."""
    code = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        code.update(f.name.encode() + f.read_bytes())
    return CACHE_DIR / f"procedural-{n_shape}-{n_expr}-{detail}-{code.hexdigest()[:16]}.npz"


@functools.lru_cache(maxsize=4)
def _procedural(n_shape: int, n_expr: int, detail: int) -> HeadArrays:
    from gasp.model.head.flame import FlameFormatError, load_flame, save_flame
    from gasp.model.head.procedural import build_arrays

    path = _cache_path(n_shape, n_expr, detail)
    if path.exists():
        try:
            return load_flame(path, n_shape, n_expr)
        except (FlameFormatError, OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    arrays = build_arrays(n_shape, n_expr, detail)
    save_flame(arrays, path)
    return arrays


def head_arrays(cfg: HeadConfig) -> HeadArrays:
    """The numpy arrays of the configured head model (cached per process for the procedural one)."""
    if cfg.model_file:
        from gasp.model.head.flame import load_flame

        return load_flame(cfg.model_file, cfg.identity_components, cfg.expression_components)
    return _procedural(cfg.identity_components, cfg.expression_components, cfg.mesh_detail)


def build_head_model(cfg: HeadConfig) -> HeadModel:
    """A fresh `HeadModel` (its own tensors, safe to move with `.to()`) for the config."""
    return HeadModel(head_arrays(cfg))
