"""Training losses for prior training and fitting: pure functions on torch tensors.

Images are (B,3,H,W) in [0,1] (renders come out channels last; the caller permutes) and both sides
are composited over the same background first (gasp.metrics.composite). Every function returns a
scalar tensor, differentiable, and raises ValueError on wrong shapes or non-finite values.
"""
from __future__ import annotations

import warnings

import torch

from gasp.config import MetricsConfig
from gasp.metrics import weights
from gasp.metrics.images import check_pair
from gasp.metrics.ssim import ssim


def _check(x: torch.Tensor, name: str, ndim: int, last: int | None = None) -> None:
    if x.ndim != ndim or (last is not None and x.shape[-1] != last):
        want = f"{ndim} dims" + (f" ending in {last}" if last is not None else "")
        raise ValueError(f"{name}: expected {want}, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf")


def photometric(pred: torch.Tensor, gt: torch.Tensor, w_l1: float, w_ssim: float) -> torch.Tensor:
    """w_l1 * mean|pred - gt| + w_ssim * (1 - mean SSIM); pred, gt (B,3,H,W) with H, W >= 11."""
    check_pair(pred, gt)
    return w_l1 * (pred - gt).abs().mean() + w_ssim * (1.0 - ssim(pred, gt).mean())


def alpha_l1(pred_alpha: torch.Tensor, gt_alpha: torch.Tensor) -> torch.Tensor:
    """mean |pred_alpha - gt_alpha| over (B,1,H,W) masks in [0,1]."""
    _check(pred_alpha, "pred_alpha", 4)
    _check(gt_alpha, "gt_alpha", 4)
    if pred_alpha.shape != gt_alpha.shape or pred_alpha.shape[1] != 1:
        raise ValueError(f"alpha masks must both be (B,1,H,W), got {tuple(pred_alpha.shape)} "
                         f"and {tuple(gt_alpha.shape)}")
    return (pred_alpha - gt_alpha).abs().mean()


class LpipsLoss:
    """weight * mean LPIPS(pred, gt). Without its weights: `available` False, `reason` says why,
    `weight` is 0, a warning is issued once, and calls return 0 (still a tensor on pred's device)."""

    def __init__(self, cfg: MetricsConfig, weight: float):
        from gasp.metrics.perceptual import Lpips

        try:
            self.model, self.reason = Lpips(cfg.weights_dir, cfg.lpips_net), ""
        except weights.WeightsMissing as e:
            self.model, self.reason = None, str(e)
        self.available = self.model is not None
        self.weight = weight if self.available else 0.0
        if not self.available and weight > 0:
            warnings.warn(f"LPIPS loss disabled (weight {weight} -> 0): {self.reason}", stacklevel=2)

    def __call__(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """pred, gt (B,3,H,W) in [0,1] -> scalar."""
        check_pair(pred, gt)
        if not self.available or self.weight == 0:
            return pred.new_zeros(())
        return self.weight * self.model(pred, gt).mean().to(pred.dtype)


class Photometric:
    """The image terms of prior training and of fitting: w_l1 L1 + w_ssim (1 - SSIM) ("photo"),
    w_alpha alpha-L1 ("alpha"), w_lpips LPIPS ("lpips", only when its weights exist). `weights`: a
    config section with w_l1, w_ssim, w_alpha, w_lpips (PriorConfig, FitConfig). `lpips_state`:
    "used", "off" (w_lpips = 0) or "missing" (weights not found; `lpips_reason` says why)."""

    def __init__(self, weights, metrics: MetricsConfig):
        self.w = weights
        self.lpips = LpipsLoss(metrics, weights.w_lpips) if weights.w_lpips > 0 else None
        self.lpips_reason = "" if self.lpips is None else self.lpips.reason
        if self.lpips is None:
            self.lpips_state = "off"
        elif self.lpips.available:
            self.lpips_state = "used"
        else:
            self.lpips_state, self.lpips = "missing", None

    def terms(self, rgb: torch.Tensor, alpha: torch.Tensor, gt: torch.Tensor,
              gt_alpha: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images (B,H,W,3) on one background, alphas (B,H,W,1) -> {"photo", "alpha", "lpips"} scalars."""
        cf = lambda x: x.permute(0, 3, 1, 2)  # noqa: E731  (the losses take channels first)
        pred, gt = cf(rgb), cf(gt)
        return {"photo": photometric(pred, gt, self.w.w_l1, self.w.w_ssim),
                "alpha": self.w.w_alpha * alpha_l1(cf(alpha), cf(gt_alpha)),
                "lpips": self.lpips(pred, gt) if self.lpips is not None else pred.new_zeros(())}

    def __call__(self, rgb: torch.Tensor, alpha: torch.Tensor, gt: torch.Tensor,
                 gt_alpha: torch.Tensor) -> torch.Tensor:
        """The sum of `terms` (scalar)."""
        t = self.terms(rgb, alpha, gt, gt_alpha)
        loss = t["photo"] + t["alpha"]
        return loss + t["lpips"] if self.lpips is not None else loss


def scale_reg(log_scales: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """mean over Gaussians and axes of relu(exp(log_s) - threshold); log_scales (N,3).

    Scales are relative to their triangle's size k (gasp/model/gaussians.py), so this only penalises
    Gaussians larger than `threshold` triangles (as GaussianAvatars' scale term): the default
    initial scale (exp(-0.5) ~ 0.61) costs nothing, needle-like blow-ups do.
    """
    _check(log_scales, "log_scales", 2, 3)
    return torch.relu(log_scales.exp() - threshold).mean()


def displacement_reg(offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """mean_i weights_i * ||offsets_i||^2; offsets (N,3) in triangle units, weights (N,) >= 0 (the
    caller passes 1 on the face and scalp_disp_factor on the scalp, where hair must move out)."""
    _check(offsets, "offsets", 2, 3)
    _check(weights, "weights", 1)
    if len(weights) != len(offsets):
        raise ValueError(f"weights ({len(weights)},) do not match offsets {tuple(offsets.shape)}")
    return (weights * offsets.square().sum(-1)).mean()


def latent_reg(z: torch.Tensor) -> torch.Tensor:
    """Mean squared L2 norm of the codes: z (J,D) (or (D,), one code) -> mean_j ||z_j||^2."""
    if z.ndim == 1:
        z = z[None]
    _check(z, "z", 2)
    return z.square().sum(-1).mean()


def prior_reg(attrs: torch.Tensor, attrs_ref: torch.Tensor) -> torch.Tensor:
    """L_prior: mean_i ||A_i - A_ref_i||^2 over Gaussians; attrs, attrs_ref (N,A). The reference
    (stage-1 attributes) is a constant: no gradient flows into it."""
    _check(attrs, "attrs", 2)
    _check(attrs_ref, "attrs_ref", 2)
    if attrs.shape != attrs_ref.shape:
        raise ValueError(f"attrs {tuple(attrs.shape)} and attrs_ref {tuple(attrs_ref.shape)} differ")
    return (attrs - attrs_ref.detach()).square().sum(-1).mean()
