"""Points on a triangle mesh: closest surface points, and what a camera sees at given pixels.

Used to place named landmarks on the procedural template (procedural.py) and to register
FaceMesh's points to the head model (gasp/capture/correspondence.py).
"""
from __future__ import annotations

import numpy as np

from gasp.model.head.uv import rasterize_triangles


def closest_points(verts: np.ndarray, faces: np.ndarray, points: np.ndarray,
                   candidates: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Each point (P,3) projected onto the nearest of its `candidates` nearest triangles (by centroid)
    of verts (V,3) / faces (F,3) -> face ids (P,), barycentrics (P,3) (clamped into the triangle)."""
    tri = np.asarray(verts, np.float64)[faces]                              # (F,3,3)
    cent = tri.mean(1)
    face_ids = np.empty(len(points), np.int64)
    barys = np.empty((len(points), 3))
    for i, p in enumerate(np.asarray(points, np.float64)):
        cand = np.argsort(np.linalg.norm(cent - p, axis=-1))[:candidates]
        a, b, c = tri[cand, 0], tri[cand, 1], tri[cand, 2]
        e0, e1, d = b - a, c - a, p - a
        d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
        d20, d21 = (d * e0).sum(1), (d * e1).sum(1)
        den = d00 * d11 - d01 * d01
        w1, w2 = (d11 * d20 - d01 * d21) / den, (d00 * d21 - d01 * d20) / den
        bary = np.clip(np.stack([1 - w1 - w2, w1, w2], -1), 0.0, None)
        bary /= bary.sum(1, keepdims=True)
        pts = (bary[:, :, None] * tri[cand]).sum(1)
        k = int(np.argmin(np.linalg.norm(pts - p, axis=-1)))
        face_ids[i], barys[i] = cand[k], bary[k]
    return face_ids, barys


def surface_point(verts: np.ndarray, faces: np.ndarray, face_ids: np.ndarray, barys: np.ndarray) -> np.ndarray:
    """verts (V,3), faces (F,3), face ids (P,), barycentrics (P,3) -> points (P,3)."""
    return (np.asarray(barys)[:, :, None] * np.asarray(verts)[faces[face_ids]]).sum(1)


def _project(verts: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """verts (V,3) world -> pixel positions (V,2) and camera depths (V,)."""
    cam = np.asarray(verts, np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
    uv = cam @ np.asarray(K, np.float64).T
    return uv[:, :2] / uv[:, 2:3], cam[:, 2]


def face_id_image(verts: np.ndarray, faces: np.ndarray, K: np.ndarray, w2c: np.ndarray, width: int,
                  height: int) -> np.ndarray:
    """(height, width) int64 id of the nearest triangle at each pixel centre, -1 where none.

    verts (V,3) world, faces (F,3), K (3,3), w2c (4,4) OpenCV world-to-camera (a z-buffer).
    """
    xy, z = _project(verts, K, w2c)
    pix, face, bary = rasterize_triangles(xy[faces], width, height)
    depth = (bary * z[faces[face]]).sum(1)
    order = np.lexsort((depth, pix))
    pix, face = pix[order], face[order]
    first = np.concatenate([[True], pix[1:] != pix[:-1]])
    img = np.full(width * height, -1, np.int64)
    img[pix[first]] = face[first]
    return img.reshape(height, width)


def visible_at(verts: np.ndarray, faces: np.ndarray, K: np.ndarray, w2c: np.ndarray, width: int, height: int,
               pixels: np.ndarray, supersample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The surface a pinhole camera sees at continuous pixel positions.

    verts (V,3) world, faces (F,3), K (3,3), w2c (4,4) OpenCV, pixels (P,2) (x right, y down) ->
    face ids (P,) (-1 where no surface is seen) and barycentrics (P,3) of the nearest front surface,
    from a z-buffer at `supersample` x the image resolution.
    """
    K_s = np.diag([supersample, supersample, 1.0]) @ np.asarray(K, np.float64)
    W, H = width * supersample, height * supersample
    zbuf = face_id_image(verts, faces, K_s, w2c, W, H).reshape(-1)
    q = np.floor(np.asarray(pixels, np.float64) * supersample).astype(np.int64)
    inside = (q[:, 0] >= 0) & (q[:, 0] < W) & (q[:, 1] >= 0) & (q[:, 1] < H)
    face_ids = np.full(len(q), -1, np.int64)
    face_ids[inside] = zbuf[q[inside, 1] * W + q[inside, 0]]
    barys = np.zeros((len(q), 3))
    hit = face_ids >= 0
    if hit.any():  # exact barycentrics of the continuous point in the hit triangle's projection
        xy, _ = _project(verts, K, w2c)
        t = xy[faces[face_ids[hit]]]                                        # (h,3,2)
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        p = np.asarray(pixels, np.float64)[hit]
        v0, v1, v2 = b - a, c - a, p - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        den = np.where(np.abs(den) > 1e-12, den, 1e-12)
        l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        bb = np.clip(np.stack([1 - l1 - l2, l1, l2], -1), 0.0, None)
        barys[hit] = bb / np.maximum(bb.sum(1, keepdims=True), 1e-12)
    return face_ids, barys
