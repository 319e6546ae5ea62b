"""The eval domain's camera effects on rendered RGBA (numpy + OpenCV): colour cast, sensor noise, JPEG.

Only RGB is degraded; alpha stays the renderer's exact coverage (the dataset's mask).
"""
from __future__ import annotations

import cv2
import numpy as np


def degrade(rgba: np.ndarray, sensor: dict, view_index: int) -> np.ndarray:
    """rgba (H,W,4) uint8 -> (H,W,4) uint8 with sensor["gain"] (3,), ["noise_std"], ["jpeg_quality"].

    The noise is seeded per view from sensor["noise_seed"], so a re-render is identical.
    """
    rng = np.random.default_rng([sensor["noise_seed"], view_index])
    rgb = rgba[..., :3].astype(np.float32) / 255.0 * np.asarray(sensor["gain"], np.float32)
    rgb += rng.normal(0.0, sensor["noise_std"], rgb.shape).astype(np.float32)
    rgb8 = (rgb.clip(0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(sensor["jpeg_quality"])])
    assert ok, "JPEG encoding failed"
    out = rgba.copy()
    out[..., :3] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
