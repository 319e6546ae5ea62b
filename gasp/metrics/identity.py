"""Identity embeddings: ArcFace (insightface ONNX model, from a local file) and cosine similarity."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gasp.metrics import weights


class ArcFace:
    """ArcFace embedding of a face aligned by 5 points. Raises weights.WeightsMissing."""

    def __init__(self, weights_dir: str | Path):
        self.file = weights.require("arcface", weights_dir)  # before the slow imports
        from insightface.model_zoo import get_model
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        # CPU provider: the metric runs beside training on machines with or without CUDA onnxruntime
        model = get_model(str(self.file), providers=["CPUExecutionProvider"])
        if not isinstance(model, ArcFaceONNX):
            raise weights.WeightsMissing(f"{self.file} is not an ArcFace recognition model "
                                         f"(insightface routed it to {type(model).__name__})")
        self.model = model

    def embed(self, img: np.ndarray, points: np.ndarray) -> np.ndarray:
        """img: uint8 RGB (H,W,3); points: (5,2) alignment points (DlibFaces.five_points) -> (D,)."""
        from insightface.utils.face_align import norm_crop

        aligned = norm_crop(img, landmark=points, image_size=self.model.input_size[0])
        # insightface models take BGR (get_feat swaps to RGB)
        return self.model.get_feat(np.ascontiguousarray(aligned[..., ::-1])).reshape(-1).astype(np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (D,)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ValueError("cosine similarity of a zero vector")
    return float(np.dot(a, b) / (na * nb))
