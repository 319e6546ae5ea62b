"""MetricSuite: one entry point that picks each metric's implementation and computes them.

Per image: PSNR, SSIM, LPIPS (lpips-alex/vgg when its weights are present, else n/a).
Per set of (prediction, ground truth) pairs:
- FID with clean-fid's Inception when `inception-2015-12-05.pt` is present, else `FD_dlib`: the
  same Fréchet distance on dlib's 128-d face descriptors (a renamed substitute, not FID);
- ID-SIM: mean ArcFace cosine (prediction vs ground truth) when `w600k_r50.onnx` is present, else
  `IDSIM_dlib`: mean cosine of dlib face descriptors.
Faces: the face box is detected on the ground-truth image and used for both images of a pair
(same camera), so the evaluated region never depends on the method. Pairs whose ground truth
shows no detectable face (back and profile views) are skipped by every face-based metric and
counted in `SetMetrics.faces_not_found`. A set with fewer usable images than
`metrics.fid_min_images` gets n/a with the reason. Nothing is ever downloaded here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gasp.config import MetricsConfig
from gasp.metrics import weights
from gasp.metrics.faces import DlibFaces
from gasp.metrics.fid import InceptionFeatures, frechet_distance
from gasp.metrics.identity import ArcFace, cosine
from gasp.metrics.images import check_pair
from gasp.metrics.perceptual import Lpips
from gasp.metrics.psnr import psnr
from gasp.metrics.ssim import ssim


@dataclass(frozen=True)
class Impl:
    """Which implementation a metric uses. impl: "lpips-alex" | "FID" | "FD_dlib" | "ArcFace" |
    "IDSIM_dlib" | None (n/a); column: the name its values carry in tables; reason: why."""
    impl: str | None
    column: str
    reason: str


@dataclass
class SetMetrics:
    """values: {column: float or None (n/a)}; notes: {column: reason} for every n/a."""
    values: dict[str, float | None]
    notes: dict[str, str] = field(default_factory=dict)
    n_images: int = 0
    faces_not_found: int = 0


@dataclass
class PairFeatures:
    """Per-pair features of N (prediction, ground truth) pairs.

    face_index (k,): pairs whose ground truth shows a detectable face; idsim (k,): their identity
    cosine (column `idsim_column`); dist_index (m,), dist_pred/dist_gt (m,d): the pairs and features
    of the distribution metric named `dist_column` ("FID" or "FD_dlib")."""
    n_images: int
    face_index: np.ndarray
    idsim: np.ndarray
    idsim_column: str
    dist_column: str
    dist_index: np.ndarray
    dist_pred: np.ndarray
    dist_gt: np.ndarray


def _load(loader, *args):
    try:
        return loader(*args), None
    except weights.WeightsMissing as e:
        return None, str(e)


class MetricSuite:
    def __init__(self, cfg: MetricsConfig):
        self.cfg = cfg
        self.lpips, lpips_reason = _load(Lpips, cfg.weights_dir, cfg.lpips_net)
        self.inception, fid_reason = _load(InceptionFeatures, cfg.weights_dir)
        self.arcface, arc_reason = _load(ArcFace, cfg.weights_dir)
        self._dlib: DlibFaces | None = None  # loaded on first use (~2 s)
        self.impls = {
            "LPIPS": Impl(self.lpips.impl, "LPIPS", f"weights: {', '.join(map(str, self.lpips.files))}")
            if self.lpips else Impl(None, "LPIPS", lpips_reason),
            "FID": Impl("FID", "FID", f"clean-fid Inception: {self.inception.file}") if self.inception
            else Impl("FD_dlib", "FD_dlib",
                      f"substitute (not FID): Fréchet distance on dlib face descriptors; {fid_reason}"),
            "ID-SIM": Impl("ArcFace", "ID-SIM", f"ArcFace ONNX: {self.arcface.file}") if self.arcface
            else Impl("IDSIM_dlib", "IDSIM_dlib",
                      f"substitute (not ArcFace): cosine of dlib face descriptors; {arc_reason}"),
        }

    def status(self) -> dict[str, dict]:
        """JSON-ready {metric: {"impl", "column", "reason"}}."""
        return {k: {"impl": v.impl, "column": v.column, "reason": v.reason} for k, v in self.impls.items()}

    @torch.no_grad()
    def image_metrics(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None
                      ) -> dict[str, torch.Tensor | None]:
        """pred, gt: (B,3,H,W) in [0,1], composited over the same background; mask (B,1,H,W)
        optional, for PSNR only. -> {"PSNR": (B,), "SSIM": (B,), "LPIPS": (B,) or None (n/a)}."""
        check_pair(pred, gt)
        return {"PSNR": psnr(pred, gt, mask), "SSIM": ssim(pred, gt),
                "LPIPS": self.lpips(pred, gt) if self.lpips else None}

    def faces(self) -> DlibFaces:
        if self._dlib is None:
            self._dlib = DlibFaces(self.cfg.face_size)
        return self._dlib

    def pair_features(self, pred: torch.Tensor, gt: torch.Tensor) -> PairFeatures:
        """pred, gt: (N,3,H,W) in [0,1], pairs in the same order -> per-pair identity similarity and
        the distribution features (Inception for FID, else dlib descriptors for FD_dlib).

        Evaluation keeps these per image so distribution metrics can be pooled over subjects."""
        check_pair(pred, gt)
        feats = self._face_features(pred, gt)
        key = "arc" if self.arcface else "dlib"
        idsim = np.array([cosine(a, b) for a, b in zip(feats[f"{key}_pred"], feats[f"{key}_gt"])])
        if self.inception is not None:
            dist_idx = np.arange(len(pred))
            dist_pred, dist_gt = self.inception(pred), self.inception(gt)
        else:
            dist_idx = np.asarray(feats["index"], dtype=int)
            dist_pred, dist_gt = (np.stack(feats[k]) if feats[k] else np.zeros((0, 128))
                                  for k in ("dlib_pred", "dlib_gt"))
        return PairFeatures(n_images=len(pred), face_index=np.asarray(feats["index"], dtype=int), idsim=idsim,
                            idsim_column=self.impls["ID-SIM"].column, dist_column=self.impls["FID"].column,
                            dist_index=dist_idx, dist_pred=dist_pred, dist_gt=dist_gt)

    def set_metrics(self, pred: torch.Tensor, gt: torch.Tensor) -> SetMetrics:
        """pred, gt: (N,3,H,W) in [0,1], pairs in the same order -> FID or FD_dlib, ID-SIM or
        IDSIM_dlib over the set."""
        return self.set_metrics_from(self.pair_features(pred, gt))

    def set_metrics_from(self, pf: PairFeatures) -> SetMetrics:
        """Set metrics of (possibly pooled) pair features."""
        n, need = pf.n_images, self.cfg.fid_min_images
        fid, ids = self.impls["FID"], self.impls["ID-SIM"]
        out = SetMetrics(values={fid.column: None, ids.column: None}, n_images=n)
        kept = len(pf.face_index)
        out.faces_not_found = n - kept
        if len(pf.dist_index) >= need:
            out.values[fid.column] = frechet_distance(pf.dist_pred, pf.dist_gt)
        elif self.inception is not None:
            out.notes[fid.column] = f"{n} images < metrics.fid_min_images = {need}"
        else:
            out.notes[fid.column] = (f"{kept} of {n} ground-truth images with a detected face "
                                     f"< metrics.fid_min_images = {need}")
        if kept:
            out.values[ids.column] = float(np.mean(pf.idsim))
        else:
            out.notes[ids.column] = f"no face detected in any of the {n} ground-truth images"
        return out

    def _face_features(self, pred: torch.Tensor, gt: torch.Tensor) -> dict[str, list]:
        """Per pair with a face found in the ground truth: its index, the box, dlib descriptors (when
        FD_dlib or IDSIM_dlib need them) and ArcFace embeddings (when available), of both images."""
        faces = self.faces()
        need_dlib = self.inception is None or self.arcface is None
        feats: dict[str, list] = {k: [] for k in ("index", "gt_box", "dlib_pred", "dlib_gt", "arc_pred", "arc_gt")}
        for i, (p, g) in enumerate(zip(faces.prepare(pred), faces.prepare(gt))):
            box = faces.detect(g)
            if box is None:
                continue
            feats["index"].append(i)
            feats["gt_box"].append(box)
            for name, img in (("pred", p), ("gt", g)):
                shape = faces.landmarks(img, box)
                if need_dlib:
                    feats[f"dlib_{name}"].append(faces.descriptor(img, shape))
                if self.arcface is not None:
                    feats[f"arc_{name}"].append(self.arcface.embed(img, faces.five_points(shape)))
        return feats
