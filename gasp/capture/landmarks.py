"""Face detection, 478 FaceMesh landmarks and person segmentation with mediapipe 0.10.21.

Its wheel ships the models (face detection full range, FaceMesh with attention/iris, selfie
segmentation), so nothing is downloaded. FaceMesh alone misses faces that are small in a wide
image, so each face is found with the full-range detector first and FaceMesh runs on a crop of
about 2.5x the face box, upscaled to at least MESH_INPUT pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_LANDMARKS = 478        # 468 face points + 10 iris points (refine_landmarks=True)
MIN_FACE_PX = 32         # face boxes smaller than this (height, pixels) are too coarse for FaceMesh
CROP_SCALE = 2.5         # FaceMesh crop side / face box side
MESH_INPUT = 384         # crops are upscaled so their short side has at least this many pixels


@dataclass(frozen=True)
class FaceBox:
    """A detected face in image pixels: x0, y0, x1, y1 and the detector's score."""
    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def size(self) -> float:
        return max(self.x1 - self.x0, self.y1 - self.y0)

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2])


def _square_crop(rgb: np.ndarray, center: np.ndarray, side: float) -> tuple[np.ndarray, float, np.ndarray]:
    """A square crop (padded with edge pixels where it leaves the image), upscaled to >= MESH_INPUT:
    (crop, scale, origin) with image = crop / scale + origin."""
    import cv2

    side = max(int(round(side)), 8)
    x0, y0 = int(round(center[0] - side / 2)), int(round(center[1] - side / 2))
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    src = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else rgb
    crop = src[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    scale = max(1.0, MESH_INPUT / side)
    if scale > 1.0:
        crop = cv2.resize(crop, (int(round(side * scale)),) * 2, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(crop), scale, np.array([x0, y0], float)


class FaceTracker:
    """mediapipe's detector, FaceMesh and selfie segmentation, created once (each holds a graph)."""

    def __init__(self):
        import mediapipe as mp

        sol = mp.solutions
        # full range finds small faces in wide shots; short range (faces within ~2 m) still finds a head
        # turned 30-40 degrees away, where the full-range model gives up
        self._detectors = (sol.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5),
                           sol.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5))
        self._mesh = sol.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                            min_detection_confidence=0.3)
        self._seg = sol.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def close(self) -> None:
        for g in (*self._detectors, self._mesh, self._seg):
            g.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in an (H,W,3) uint8 image, largest first (the full-range detector's, else the short-range one's)."""
        h, w = rgb.shape[:2]
        detections = []
        for detector in self._detectors:
            detections = detector.process(rgb).detections or []
            if detections:
                break
        boxes = []
        for d in detections:
            b = d.location_data.relative_bounding_box
            boxes.append(FaceBox(b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h,
                                 float(d.score[0])))
        return sorted(boxes, key=lambda b: -b.size)

    def landmarks(self, rgb: np.ndarray, center: np.ndarray, size: float) -> np.ndarray | None:
        """(478,2) landmark pixel positions (x right, y down, pixel centres at +0.5) of the face around
        `center` with box size `size`, or None when FaceMesh finds no face there."""
        crop, scale, origin = _square_crop(rgb, center, CROP_SCALE * size)
        res = self._mesh.process(crop)
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        ch, cw = crop.shape[:2]
        xy = np.array([[p.x * cw, p.y * ch] for p in lm], dtype=np.float64)
        return xy / scale + origin

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """(H,W) float32 person probability in 0..1."""
        res = self._seg.process(rgb)
        return np.asarray(res.segmentation_mask, dtype=np.float32)


def landmark_groups() -> dict[str, np.ndarray]:
    """FaceMesh index sets used to weight and check the fit: face oval (silhouette-dependent), lips,
    eyes, brows, irises, nose (from mediapipe's own connection tables)."""
    from mediapipe.python.solutions import face_mesh_connections as fc

    def idx(conns) -> np.ndarray:
        return np.array(sorted({i for c in conns for i in c}), dtype=np.int64)

    return {"oval": idx(fc.FACEMESH_FACE_OVAL), "lips": idx(fc.FACEMESH_LIPS),
            "eyes": idx(fc.FACEMESH_LEFT_EYE | fc.FACEMESH_RIGHT_EYE),
            "brows": idx(fc.FACEMESH_LEFT_EYEBROW | fc.FACEMESH_RIGHT_EYEBROW),
            "irises": idx(fc.FACEMESH_LEFT_IRIS | fc.FACEMESH_RIGHT_IRIS), "nose": idx(fc.FACEMESH_NOSE)}
