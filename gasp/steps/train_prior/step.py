"""One training step: render the decoded attributes at each row's camera, the weighted objective,
backward and the optimiser update."""
from __future__ import annotations

import torch
from torch import Tensor

from gasp.config import Config
from gasp.model.prior import GaspPrior
from gasp.steps.train_prior.data import PriorData
from gasp.steps.train_prior.timer import Timer, section


class Renderer:
    """Poses the mesh for (subject, view) rows of a PriorData and renders decoded attributes on it."""

    def __init__(self, head, data: PriorData, cfg: Config, device):
        from gasp.metrics.images import background_rgb

        self.head, self.data, self.cfg, self.device = head, data, cfg, torch.device(device)
        self.faces = head.faces.to(self.device)
        self.background = torch.tensor(background_rgb(cfg.eval.background), device=self.device)

    def posed_verts(self, pairs: Tensor) -> Tensor:
        """(B,V,3) mesh vertices of each row's view (constant data: no gradient)."""
        d, j, v = self.data, pairs[:, 0], pairs[:, 1]
        with torch.no_grad():
            return self.head.verts(d.shape[j], d.expr[j, v], d.jaw[j, v], d.neck[j, v], d.global_rt[j, v])

    def render(self, attrs: Tensor, pairs: Tensor, binding, timer: Timer | None = None) -> tuple[Tensor, Tensor]:
        """attrs (B,N,A) -> composited colours (B,H,W,3) and alphas (B,H,W,1) at each row's camera."""
        from gasp.model.splat import splat_frames

        d, j, v = self.data, pairs[:, 0], pairs[:, 1]
        with section(timer, "bind"):  # posing counts as binding (benchmarks/train_step.py)
            verts = self.posed_verts(pairs)
        return splat_frames(attrs, verts, self.faces, binding, self.cfg.avatar, d.K[j, v], d.w2c[j, v], d.width,
                            d.height, self.background, timer)

    def target(self, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """Ground truth of the rows: composited colours (B,H,W,3) and alphas (B,H,W,1)."""
        from gasp.metrics.images import composite_rgba

        rgba = self.data.rgba(pairs, self.device)
        return composite_rgba(rgba, self.background), rgba[..., 3:]


class Objective:
    """The weighted training loss: the image terms (gasp/steps/losses.py `Photometric`, weights from
    PriorConfig) and the regularisers."""

    def __init__(self, cfg: Config, model: GaspPrior, device):
        from gasp.steps import losses

        self.losses, self.p = losses, cfg.prior
        self.disp_weights = model.displacement_weights(cfg.prior.scalp_disp_factor).to(device)
        self.photometric = losses.Photometric(cfg.prior, cfg.metrics)

    @property
    def lpips_note(self) -> str:
        """Whether LPIPS is used, for the checkpoint's metadata (fitted avatars copy it)."""
        return {"used": "used", "off": "not used (prior.w_lpips = 0)",
                "missing": f"weights missing, weight set to 0: {self.photometric.lpips_reason}"}[
            self.photometric.lpips_state]

    def __call__(self, pred: Tensor, alpha: Tensor, gt: Tensor, gt_alpha: Tensor, attrs: Tensor,
                 z: Tensor) -> dict[str, Tensor]:
        """Images (B,H,W,3), alphas (B,H,W,1), attrs (B,N,A), codes (B,L) -> weighted terms; 'loss' is their sum."""
        from gasp.model.gaussians import LOG_SCALE, OFFSET

        L, p = self.losses, self.p
        b = attrs.shape[0]
        t = {**self.photometric.terms(pred, alpha, gt, gt_alpha),
             "scale": p.w_scale * L.scale_reg(attrs[..., LOG_SCALE].reshape(-1, 3)),
             "disp": p.w_disp * L.displacement_reg(attrs[..., OFFSET].reshape(-1, 3), self.disp_weights.repeat(b)),
             "latent": p.w_latent * L.latent_reg(z)}
        t["loss"] = sum(t.values())
        with torch.no_grad():
            t["l1"] = (pred - gt).abs().mean()  # unweighted, for the log
        return t


def train_step(net, renderer: Renderer, objective: Objective, optim: torch.optim.Optimizer, pairs: Tensor, binding,
               timer: Timer | None = None) -> dict[str, Tensor]:
    """One optimisation step on (subject, view) rows (B,2); returns the loss terms and the batch PSNR."""
    with section(timer, "decode"):
        attrs, z = net(pairs[:, 0].to(renderer.device))
    pred, alpha = renderer.render(attrs, pairs, binding, timer)
    with section(timer, "loss"):
        gt, gt_alpha = renderer.target(pairs)
        terms = objective(pred, alpha, gt, gt_alpha, attrs, z)
    with section(timer, "backward"):
        optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optim.step()
    terms["psnr"] = psnr(pred.detach(), gt).mean()
    return terms


def psnr(pred: Tensor, gt: Tensor) -> Tensor:
    """(B,H,W,3) images in 0..1 -> (B,) PSNR in dB (gasp/metrics/psnr.py), capped at 100 dB: the log's
    non-finite check must not stop a run on a perfect image."""
    from gasp.metrics.psnr import psnr as metric

    return metric(pred.permute(0, 3, 1, 2), gt.permute(0, 3, 1, 2), max_db=100.0)
