"""Training losses: hand-computed values, gradients, shape and NaN errors."""
from __future__ import annotations

import pytest
import torch

import dataclasses

from gasp.config import FitConfig, MetricsConfig, PriorConfig
from gasp.steps.losses import (Photometric, alpha_l1, displacement_reg, latent_reg, photometric, prior_reg,
                               scale_reg)


def images(seed=0, b=2, size=24):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g, dtype=torch.float64)


def test_photometric_identical_is_zero_and_l1_part_is_exact():
    gt = images()
    assert photometric(gt, gt, 0.8, 0.2).item() == pytest.approx(0.0, abs=1e-12)
    pred = (gt + 0.25).clamp(0, 1)
    assert photometric(pred, gt, 1.0, 0.0).item() == pytest.approx((pred - gt).abs().mean().item())
    ssim_part = photometric(pred, gt, 0.0, 1.0).item()
    assert 0 < ssim_part < 1
    assert photometric(pred, gt, 0.8, 0.2).item() == pytest.approx(
        0.8 * (pred - gt).abs().mean().item() + 0.2 * ssim_part)


def test_photometric_gradient_flows():
    gt = images()
    pred = images(1).requires_grad_(True)
    photometric(pred, gt, 0.8, 0.2).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("section, weights", [("prior", PriorConfig()), ("fit", FitConfig())])
def test_photometric_terms_of_training_and_fitting(section, weights):
    """One class for both: photo + w_alpha alpha-L1 with the section's weights; no LPIPS at w_lpips 0."""
    w = dataclasses.replace(weights, w_lpips=0.0, w_alpha=0.5)
    loss = Photometric(w, MetricsConfig())
    assert loss.lpips_state == "off"
    g = torch.Generator().manual_seed(0)
    rgb, gt = torch.rand(2, 16, 16, 3, generator=g), torch.rand(2, 16, 16, 3, generator=g)
    alpha, gt_alpha = torch.rand(2, 16, 16, 1, generator=g), torch.rand(2, 16, 16, 1, generator=g)
    t = loss.terms(rgb, alpha, gt, gt_alpha)
    cf = lambda x: x.permute(0, 3, 1, 2)  # noqa: E731
    assert torch.equal(t["photo"], photometric(cf(rgb), cf(gt), w.w_l1, w.w_ssim))
    assert torch.equal(t["alpha"], 0.5 * (alpha - gt_alpha).abs().mean())
    assert t["lpips"] == 0
    assert torch.equal(loss(rgb, alpha, gt, gt_alpha), t["photo"] + t["alpha"])


def test_alpha_l1():
    pred = torch.tensor([0.0, 0.5, 1.0, 1.0]).reshape(1, 1, 2, 2).requires_grad_(True)
    gt = torch.tensor([0.0, 1.0, 1.0, 0.0]).reshape(1, 1, 2, 2)
    loss = alpha_l1(pred, gt)
    assert loss.item() == pytest.approx(1.5 / 4)
    loss.backward()
    assert pred.grad.flatten().tolist() == [0.0, -0.25, 0.0, 0.25]  # sign(0) = 0 at the exact match
    with pytest.raises(ValueError, match=r"\(B,1,H,W\)"):
        alpha_l1(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))


def test_scale_reg_penalises_only_scales_above_threshold():
    log_s = torch.log(torch.tensor([[0.5, 1.0, 3.0], [0.61, 0.2, 1.5]])).requires_grad_(True)
    loss = scale_reg(log_s)
    assert loss.item() == pytest.approx((2.0 + 0.5) / 6)
    loss.backward()
    assert log_s.grad[0, 0] == 0 and log_s.grad[0, 2] == pytest.approx(3.0 / 6)
    assert scale_reg(torch.full((5, 3), -0.5)).item() == 0  # the default initial scale is free


def test_displacement_reg_weights_each_gaussian():
    offsets = torch.tensor([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]], requires_grad=True)
    w = torch.tensor([1.0, 0.01])  # face, scalp (scalp_disp_factor)
    loss = displacement_reg(offsets, w)
    assert loss.item() == pytest.approx((25.0 + 0.01) / 2)
    loss.backward()
    assert offsets.grad[1, 0].item() == pytest.approx(0.01)
    with pytest.raises(ValueError, match="do not match"):
        displacement_reg(offsets, torch.ones(3))


def test_latent_and_prior_reg():
    z = torch.tensor([[3.0, 4.0], [0.0, 1.0]], requires_grad=True)
    assert latent_reg(z).item() == pytest.approx(13.0)
    assert latent_reg(z[0]).item() == pytest.approx(25.0)
    a_ref = torch.zeros(2, 14, requires_grad=True)
    a = torch.zeros(2, 14)
    a[0, 0], a[1, 13] = 2.0, 1.0
    a.requires_grad_(True)
    loss = prior_reg(a, a_ref)
    assert loss.item() == pytest.approx(2.5)
    loss.backward()
    assert a.grad[0, 0].item() == pytest.approx(2.0) and a_ref.grad is None  # the reference is a constant


@pytest.mark.parametrize("call", [
    lambda: scale_reg(torch.zeros(4, 2)),
    lambda: scale_reg(torch.tensor([[float("nan"), 0.0, 0.0]])),
    lambda: prior_reg(torch.zeros(3, 14), torch.zeros(2, 14)),
    lambda: photometric(images(), images()[:1], 1.0, 1.0),
    lambda: latent_reg(torch.zeros(2, 3, 4)),
])
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()
