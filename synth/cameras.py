"""Pinhole cameras in the dataset's OpenCV convention, and the one Blender <-> OpenCV conversion.

OpenCV camera: x right, y down, z forward. Blender camera: looks down -Z, +Y up, +X right; the two
differ by a rotation of 180 degrees about the camera's x axis. World: +Y up, the face looks toward +Z.
Pixel centres sit at integer + 0.5, so a centred principal point is (W/2, H/2).
"""
from __future__ import annotations

import numpy as np

SENSOR_MM = 36.0
_FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera axes <-> Blender camera axes


def intrinsics(focal_mm: float, width: int, height: int) -> np.ndarray:
    """K (3,3) for a focal length on a 36 mm wide sensor (Blender's sensor_fit AUTO, square pixels)."""
    f = focal_mm / SENSOR_MM * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def look_at_c2w(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """OpenCV camera-to-world (4,4) at `eye` looking at `target`, image up ~ world `up`."""
    eye, target, up = (np.asarray(a, float) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def orbit_eye(yaw_deg: float, pitch_deg: float, distance: float, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Camera position on a sphere around `target`: yaw 0 = in front (+Z), +90 = subject's left (+X),
    pitch > 0 = above."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    return np.asarray(target, float) + distance * np.array([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)])


def opencv_c2w_to_blender(c2w: np.ndarray) -> np.ndarray:
    """OpenCV camera-to-world (4,4) -> Blender camera object's matrix_world (4,4)."""
    return np.asarray(c2w, float) @ _FLIP_YZ


def blender_to_opencv_w2c(matrix_world: np.ndarray) -> np.ndarray:
    """Blender camera object's matrix_world (4,4) -> OpenCV world-to-camera (4,4) (what the dataset stores)."""
    return np.linalg.inv(np.asarray(matrix_world, float) @ _FLIP_YZ)


def project(points: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points (N,3) world -> (uv (N,2) continuous pixel coordinates, depth (N,))."""
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    uvw = cam @ K.T
    return uvw[:, :2] / uvw[:, 2:3], cam[:, 2]
