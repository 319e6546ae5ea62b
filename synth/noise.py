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
    out = np.zeros(len(pts), np.float32)
    total = 0.0
    for o in range(octaves):
        d = rng.standard_normal((waves, 3)) * np.asarray(anisotropy)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        k = 2 * np.pi / (scale / 2**o) * rng.uniform(0.7, 1.3, waves)
        phase = rng.uniform(0, 2 * np.pi, waves)
        amp = 0.5**o
        arg = pts @ (d * k[:, None]).T.astype(np.float32) + phase.astype(np.float32)
        out += np.float32(amp * np.sqrt(2.0 / waves)) * np.sin(arg, out=arg).sum(1)
        total += amp**2
    return (out / np.sqrt(total)).astype(np.float64)


def smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x, float) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
