"""Image metrics on torch tensors (B,3,H,W) in [0,1], CPU or CUDA; see docs/metrics.md.

One module per metric family: psnr, ssim, perceptual (LPIPS), fid (Fréchet distances, Inception
features), faces (dlib), identity (ArcFace, cosine); weights (finding/fetching weight files);
suite (MetricSuite: picks each implementation, with honest fallbacks, and computes them).
"""
from gasp.metrics.images import composite
from gasp.metrics.psnr import psnr
from gasp.metrics.ssim import ssim

__all__ = ["composite", "psnr", "ssim"]
