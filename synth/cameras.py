"""The one Blender <-> OpenCV camera conversion (the pinhole maths itself is gasp/camera.py).

OpenCV camera: x right, y down, z forward. Blender camera: looks down -Z, +Y up, +X right; the two
differ by a rotation of 180 degrees about the camera's x axis.
"""
from __future__ import annotations

import numpy as np

_FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera axes <-> Blender camera axes


def opencv_c2w_to_blender(c2w: np.ndarray) -> np.ndarray:
    """OpenCV camera-to-world (4,4) -> Blender camera object's matrix_world (4,4)."""
    return np.asarray(c2w, float) @ _FLIP_YZ


def blender_to_opencv_w2c(matrix_world: np.ndarray) -> np.ndarray:
    """Blender camera object's matrix_world (4,4) -> OpenCV world-to-camera (4,4) (what the dataset stores)."""
    return np.linalg.inv(np.asarray(matrix_world, float) @ _FLIP_YZ)

