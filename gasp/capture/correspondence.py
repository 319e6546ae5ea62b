"""Where FaceMesh's 478 landmarks lie on the head model: computed once by registration, stored in
the repo (`facemesh_map.npz` beside this file), rebuilt by `gasp register-landmarks` when the head
model changes.

Registration runs FaceMesh on rendered subjects whose cameras and head parameters are known (any
dataset folder of gasp/data.py), keeps near-frontal views, finds the surface each landmark pixel
sees on the posed mesh (z-buffer, gasp/model/head/surface.py), and carries that surface point back to
the neutral template through the mesh's topology (same triangle, same barycentrics). Each
landmark's template point is the median over all views; its spread (median distance of the views'
points from it) says how well FaceMesh and the surface agree there: the face-oval points slide with
the silhouette and get a large spread, and so a small weight in tracking.

The map stores template-space points, not triangle ids, so it binds to any subdivision level of
the procedural head (`bind`): a model whose surface moved away from the points is refused with the
command that rebuilds the map.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gasp.capture.landmarks import N_LANDMARKS
from gasp.capture.media import CaptureError

MAP_FILE = Path(__file__).with_name("facemesh_map.npz")
MAX_SNAP_MM = 2.0        # median distance from the stored points to a model's surface above this: rebuild
SPREAD_FLOOR_MM = 3.0    # weights 1 / (1 + (spread / floor)^2): FaceMesh itself scatters ~2-3 mm on renders
REBUILD = "gasp register-landmarks DATA_DIR (see docs/capture.md)"


@dataclass
class LandmarkMap:
    """points (L,3) on the neutral template (metres, head frame); spread_mm (L,); count (L,) views
    that saw each landmark; meta: how it was made."""
    points: np.ndarray
    spread_mm: np.ndarray
    count: np.ndarray
    meta: dict

    def weights(self, min_count: int = 3) -> np.ndarray:
        """(L,) tracking weights in 0..1 from the spread; 0 for landmarks seen in fewer than min_count views."""
        w = 1.0 / (1.0 + (self.spread_mm / SPREAD_FLOOR_MM) ** 2)
        return np.where(self.count >= min_count, w, 0.0)

    def bind(self, head) -> tuple[np.ndarray, np.ndarray]:
        """(face ids (L,), barycentrics (L,3)) of the points on `head`'s neutral template."""
        from gasp.model.head.surface import closest_points, surface_point

        template = head.template.detach().cpu().numpy()
        faces = head.faces.cpu().numpy()
        face_ids, barys = closest_points(template, faces, self.points)
        snap_mm = 1000 * np.linalg.norm(surface_point(template, faces, face_ids, barys) - self.points, axis=1)
        if np.median(snap_mm) > MAX_SNAP_MM:
            raise CaptureError(f"{MAP_FILE}: points: {np.median(snap_mm):.1f} mm from this head model's surface "
                               f"(median; limit {MAX_SNAP_MM} mm): the head model changed since the map was "
                               f"registered; rebuild it with `{REBUILD}`")
        return face_ids, barys

    def save(self, path: str | Path = MAP_FILE) -> None:
        from gasp.io import atomic_path

        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, points=self.points.astype(np.float32), spread_mm=self.spread_mm.astype(np.float32),
                                count=self.count.astype(np.int32), meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: str | Path = MAP_FILE) -> "LandmarkMap":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise CaptureError(f"{path}: landmark map not found; build it with `{REBUILD}`") from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise CaptureError(f"{path}: not a readable landmark map ({e}); rebuild it with `{REBUILD}`") from None
        for key, shape in (("points", (N_LANDMARKS, 3)), ("spread_mm", (N_LANDMARKS,)), ("count", (N_LANDMARKS,))):
            if key not in arrays:
                raise CaptureError(f"{path}: {key}: missing")
            if arrays[key].shape != shape:
                raise CaptureError(f"{path}: {key}: shape {arrays[key].shape}, expected {shape}")
            if not np.isfinite(arrays[key]).all():
                raise CaptureError(f"{path}: {key}: contains NaN or inf")
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
        return cls(arrays["points"].astype(np.float64), arrays["spread_mm"].astype(np.float64),
                   arrays["count"].astype(np.int64), meta)


def head_rotation(w2c: np.ndarray, global_rt: np.ndarray, neck: np.ndarray | None = None) -> np.ndarray:
    """(3,3) the head's rotation seen from the camera: w2c (4,4), global_rt (6,), neck (3,) axis-angle
    (the head hangs below the neck joint, so its orientation is global then neck)."""
    import torch

    from gasp.model.head.model import axis_angle_to_matrix

    r = lambda v: axis_angle_to_matrix(torch.as_tensor(np.asarray(v[:3], np.float64))).numpy()  # noqa: E731
    R = r(global_rt) if neck is None else r(global_rt) @ r(neck)
    return np.asarray(w2c, np.float64)[:3, :3] @ R


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) of the rotation between two (3,3) rotations."""
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def head_yaw_pitch(w2c: np.ndarray, global_rt: np.ndarray, neck: np.ndarray | None = None) -> tuple[float, float]:
    """Degrees the face turns away from the camera (0, 0 = looking into it): w2c (4,4), global_rt (6,), neck (3,)."""
    d = head_rotation(w2c, global_rt, neck) @ np.array([0.0, 0.0, 1.0])   # the face's forward direction, camera frame
    return float(np.degrees(np.arctan2(d[0], -d[2]))), float(np.degrees(np.arcsin(np.clip(-d[1], -1, 1))))


def register(subject_dirs: list[Path], head_cfg, max_yaw_deg: float = 30.0, max_pitch_deg: float = 30.0,
             background: float = 0.5, progress: bool = True) -> tuple[LandmarkMap, dict]:
    """Register FaceMesh to the head model on rendered subjects (gasp/data.py folders).

    Returns the map and a report {views_used, views_without_face, per_subject}. Views whose head
    turns more than max_yaw_deg / max_pitch_deg from the camera are skipped.
    """
    import torch
    from tqdm import tqdm

    from gasp.capture.landmarks import FaceTracker
    from gasp.data import load_subject
    from gasp.model.fitted_avatar import head_model
    from gasp.model.head.surface import surface_point, visible_at

    head = head_model(head_cfg)
    faces = head.faces.numpy()
    template = head.template.numpy().astype(np.float64)
    samples = [[] for _ in range(N_LANDMARKS)]
    used, missed, per_subject = 0, 0, {}
    side_per_face, offsets = [], []  # how the renders frame the face: what captures are cropped to
    with FaceTracker() as tracker:
        for d in tqdm(subject_dirs, desc="register", unit="subject", disable=not progress):
            s = load_subject(d)
            n_used = 0
            for v in range(len(s)):
                yaw, pitch = head_yaw_pitch(s.w2c[v].astype(np.float64), s.global_rt[v], s.neck[v])
                if abs(yaw) > max_yaw_deg or abs(pitch) > max_pitch_deg:
                    continue
                img = s.images[v]
                rgb = (255 * (img[..., :3] * img[..., 3:] + background * (1 - img[..., 3:])) + 0.5).astype(np.uint8)
                boxes = tracker.detect(rgb)
                lm = tracker.landmarks(rgb, boxes[0].center, boxes[0].size) if boxes else None
                if lm is None:
                    missed += 1
                    continue
                t = lambda a: torch.as_tensor(a[None], dtype=torch.float32)  # noqa: E731
                with torch.no_grad():
                    verts = head.verts(t(s.shape), t(s.expr[v]), t(s.jaw[v]), t(s.neck[v]), t(s.global_rt[v]))[0]
                fid, bary = visible_at(verts.numpy(), faces, s.K[v].astype(np.float64), s.w2c[v].astype(np.float64),
                                       s.width, s.height, lm)
                height = np.ptp(lm[:, 1])
                side_per_face.append(s.width / height)
                offsets.append((np.array([s.width, s.height]) / 2 - (lm.min(0) + lm.max(0)) / 2) / height)
                hit = np.flatnonzero(fid >= 0)
                pts = surface_point(template, faces, fid[hit], bary[hit])
                for i, p in zip(hit, pts):
                    samples[i].append(p)
                used += 1
                n_used += 1
            per_subject[s.id] = n_used
    if used == 0:
        raise CaptureError(f"registration: no usable view in {len(subject_dirs)} subject folders (FaceMesh found no "
                           f"face within {max_yaw_deg} degrees of yaw)")
    points = np.zeros((N_LANDMARKS, 3))
    spread = np.full(N_LANDMARKS, 1e3)
    count = np.array([len(x) for x in samples])
    for i, x in enumerate(samples):
        if x:
            x = np.stack(x)
            points[i] = np.median(x, axis=0)
            spread[i] = 1000 * np.median(np.linalg.norm(x - points[i], axis=1))
    meta = {"head": {"identity_components": head_cfg.identity_components,
                     "expression_components": head_cfg.expression_components, "mesh_detail": head_cfg.mesh_detail,
                     "model_file": head_cfg.model_file},
            "subjects": [Path(d).name for d in subject_dirs], "views_used": used, "views_without_face": missed,
            "max_yaw_deg": max_yaw_deg, "max_pitch_deg": max_pitch_deg,
            "framing": {"side_per_face": float(np.median(side_per_face)),
                        "center_offset": np.median(np.stack(offsets), axis=0).round(4).tolist()}}
    return LandmarkMap(points, spread, count, meta), {"views_used": used, "views_without_face": missed,
                                                      "per_subject": per_subject}
