"""Pinhole cameras in the dataset's OpenCV convention: the one source of the sensor, the intrinsics,
the look-at and the orbit around the head, for synth/, fitting figures, export, capture and the viewer.

OpenCV camera: x right, y down, z forward; world: +Y up, the face looks toward +Z. Pixel centres
sit at integer + 0.5, so a centred principal point is (W/2, H/2). Blender's camera convention is
converted in synth/cameras.py, the only place that talks to Blender.
"""
from __future__ import annotations

import numpy as np

SENSOR_MM = 36.0  # sensor width: Blender's default with sensor_fit AUTO, and the full-frame (35 mm) format
FULL_FRAME_DIAGONAL_MM = float(np.hypot(SENSOR_MM, 24.0))  # EXIF FocalLengthIn35mmFilm refers to this sensor

# Where orbit cameras aim: a little below the head centre, so that hair to neck stay in frame. The
# dataset's cameras (synth/) and the fitted avatars' views (turntables, figures, capture framing,
# viewer) have used different points since the start; each keeps its own so that results do not move.
DATASET_LOOK_TARGET = (0.0, -0.015, 0.0)
AVATAR_LOOK_TARGET = (0.0, -0.03, 0.0)


def intrinsics(focal_mm: float, width: int, height: int) -> np.ndarray:
    """K (3,3) for a focal length on a SENSOR_MM wide sensor (Blender's sensor_fit AUTO, square pixels)."""
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


def orbit_camera(yaw_deg: float, pitch_deg: float, distance: float, focal_mm: float, width: int, height: int,
                 target=AVATAR_LOOK_TARGET) -> tuple[np.ndarray, np.ndarray]:
    """(K (3,3), w2c (4,4) OpenCV), float32, of a camera at `orbit_eye` looking at `target`."""
    eye = orbit_eye(yaw_deg, pitch_deg, distance, target)
    R = np.stack(list(look_at_c2w(eye, target)[:3, :3].T))  # rows [x, y, z], contiguous
    w2c = np.eye(4)
    w2c[:3, :3], w2c[:3, 3] = R, -R @ eye
    return intrinsics(focal_mm, width, height).astype(np.float32), w2c.astype(np.float32)


def orbit_cameras(yaws, pitch_deg, distance, focal_mm, width, height,
                  target=AVATAR_LOOK_TARGET) -> tuple[np.ndarray, np.ndarray]:
    """`orbit_camera` at each yaw: K (C,3,3), w2c (C,4,4)."""
    cams = [orbit_camera(y, pitch_deg, distance, focal_mm, width, height, target) for y in yaws]
    return np.stack([c[0] for c in cams]), np.stack([c[1] for c in cams])


def project(points: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points (N,3) world -> (uv (N,2) continuous pixel coordinates, depth (N,))."""
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    uvw = cam @ K.T
    return uvw[:, :2] / uvw[:, 2:3], cam[:, 2]
