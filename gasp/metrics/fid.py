"""Fréchet distances between two sets of image features.

`frechet_distance` is clean-fid's math (mean and covariance per set, then
`cleanfid.fid.frechet_distance`) on any features. `InceptionFeatures` is clean-fid's "clean"
mode feature extractor (the TorchScript Inception-v3 `inception-2015-12-05.pt`, PIL bicubic
resize to 299 on float values) loaded from a local file, never downloaded. Images are first
quantised to 8 bit, as clean-fid would read them from PNG files.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import LinAlgWarning

from gasp.metrics import weights
from gasp.metrics.images import to_uint8


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """feats_a (N,D), feats_b (M,D) with N, M >= 2 -> Fréchet distance between the Gaussians
    fitted to each set (sample covariance, as clean-fid). Cost grows with D^3 (D=2048: ~1 min on
    2 cores)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N,D) and (M,D), got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError(f"need at least 2 feature vectors per set, got {len(a)} and {len(b)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("features contain NaN or inf")
    from cleanfid.fid import frechet_distance as cleanfid_frechet

    with warnings.catch_warnings():
        # with N <= D the covariances are singular (always so for our set sizes): scipy's sqrtm
        # warns, and its error estimate divides 0 by 0; the trace clean-fid needs is still right
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # clean-fid passes sqrtm's deprecated `disp`
        return float(cleanfid_frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))


class InceptionFeatures:
    """(N,3,H,W) in [0,1] -> (N,2048) Inception pool features. Raises weights.WeightsMissing."""

    def __init__(self, weights_dir: str | Path, batch_size: int = 32):
        self.file = weights.require("inception", weights_dir)  # before the slow imports
        from cleanfid.inception_torchscript import InceptionV3W
        from cleanfid.resize import build_resizer

        self.model = InceptionV3W(str(self.file.parent), download=False).eval()
        self.resize = build_resizer("clean")
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        device = images.device
        self.model.to(device)
        out = []
        for chunk in np.array_split(to_uint8(images), max(1, -(-len(images) // self.batch_size))):
            x = np.stack([self.resize(img) for img in chunk]).transpose(0, 3, 1, 2)  # 0..255 floats
            out.append(self.model(torch.from_numpy(x).to(device)).cpu().numpy())
        return np.concatenate(out).astype(np.float64)
