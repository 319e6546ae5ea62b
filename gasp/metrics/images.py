"""Image-tensor conventions shared by every metric and loss.

Images are float tensors `(B,3,H,W)` with values in [0,1] (channels first, as torch and lpips
expect; renders come out channels last `(C,H,W,D)` and the caller permutes). Before any metric or
loss, prediction and ground truth are composited over the same background (`composite`), so the
background never counts as an error of one side only. `background_rgb` and `over` are the one
background rule of training, fitting, evaluation, figures and capture (`composite_rgba` for the
stored RGBA images, channels last).
"""
from __future__ import annotations

import numpy as np
import torch

BACKGROUNDS = {"white": 1.0, "black": 0.0}


def background_rgb(name: str) -> tuple[float, float, float]:
    """`eval.background` ("white" | "black") as RGB in 0..1."""
    if name not in BACKGROUNDS:
        raise ValueError(f"background must be one of {sorted(BACKGROUNDS)}, got {name!r}")
    return (BACKGROUNDS[name],) * 3


def over(rgb, alpha, background):
    """Straight-alpha `rgb` over a uniform `background`: rgb * alpha + background * (1 - alpha).
    Tensors or numpy arrays; `alpha` and `background` broadcast against `rgb`."""
    return rgb * alpha + background * (1 - alpha)


def composite_rgba(rgba, background):
    """RGBA images (...,4) in 0..1 (tensor or numpy, channels last) over `background` (3,) -> (...,3).
    A tuple background becomes float64 for numpy images, the images' dtype and device for tensors."""
    if isinstance(rgba, torch.Tensor):
        background = torch.as_tensor(background, dtype=rgba.dtype, device=rgba.device)
    else:
        background = np.asarray(background)
    return over(rgba[..., :3], rgba[..., 3:], background)


def check_images(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Raise ValueError unless `x` is a finite float tensor (B,3,H,W)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor (B,3,H,W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected shape (B,3,H,W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a float tensor in [0,1], got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return x


def check_pair(pred: torch.Tensor, gt: torch.Tensor) -> None:
    """Both (B,3,H,W), finite, same shape and device."""
    check_images(pred, "pred")
    check_images(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in shape")
    if pred.device != gt.device:
        raise ValueError(f"pred on {pred.device} and gt on {gt.device}")


def composite(rgb: torch.Tensor, alpha: torch.Tensor, background: str) -> torch.Tensor:
    """Straight-alpha `rgb (B,3,H,W)` over a uniform `background` ("white" | "black") using
    `alpha (B,1,H,W)` in [0,1] -> (B,3,H,W)."""
    check_images(rgb, "rgb")
    if alpha.shape != (rgb.shape[0], 1, *rgb.shape[2:]):
        raise ValueError(f"alpha: expected shape {(rgb.shape[0], 1, *rgb.shape[2:])}, got {tuple(alpha.shape)}")
    return over(rgb, alpha, background_rgb(background)[0])


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B,3,H,W) in [0,1] -> numpy (B,H,W,3) uint8 (rounded): what an image file would hold."""
    check_images(images)
    x = (images.detach().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
