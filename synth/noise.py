"""Smooth procedural noise on 3D points (numpy): sums of random plane waves, never blocky.

Noise is evaluated at surface points in the head frame, so it is continuous across UV seams.
"""
from __future__ import annotations

import numpy as np


def wave_noise(points: np.ndarray, rng: np.random.Generator, scale: float, octaves: int = 3,
               waves: int = 16, anisotropy=(1.0, 1.0, 1.0)) -> np.ndarray:
    """(N,3) metres -> (N,) fractal noise, roughly zero-mean, unit std.

    scale: feature size of the first octave in metres; each octave halves it at half the amplitude.
    anisotropy: per-axis frequency multipliers (stretches features along axes with small values).
    """
    pts = np.asarray(points, np.float32)
    freqs, phases, amps = [], [], []
    for o in range(octaves):
        d = rng.standard_normal((waves, 3)) * np.asarray(anisotropy)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        k = 2 * np.pi / (scale / 2**o) * rng.uniform(0.7, 1.3, waves)
        phases.append(rng.uniform(0, 2 * np.pi, waves))
        freqs.append(d * k[:, None])
        amps.append(np.full(waves, 0.5**o * np.sqrt(2.0 / waves)))
    total = sum(0.25**o for o in range(octaves))
    # all octaves in one product and one weighted sum (a matrix-vector product, not a strided .sum)
    arg = pts @ np.concatenate(freqs).T.astype(np.float32) + np.concatenate(phases).astype(np.float32)
    weights = (np.concatenate(amps) / np.sqrt(total)).astype(np.float32)
    return (np.sin(arg, out=arg) @ weights).astype(np.float64)


def smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x, float) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
