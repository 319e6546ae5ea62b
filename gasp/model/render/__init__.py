"""Differentiable Gaussian rasterization with gsplat's conventions (packed=False layout).

``rasterize(...)`` is the one entry point used by training, fitting, evaluation and turntables.
CUDA tensors go to ``gsplat.rasterization``; CPU tensors go to our own sparse torch backend
(``_projection.py`` + ``_raster.py``), which follows gsplat 1.5.3's semantics. Callers never need
to know which backend ran. ``render_nograd`` is the fast no-grad path for evaluation/turntables.
"""
from .api import rasterize, render_nograd

__all__ = ["rasterize", "render_nograd"]
