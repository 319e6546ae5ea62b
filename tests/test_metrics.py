"""Image metrics: PSNR, SSIM (pinned to scikit-image), the MetricSuite and its offline fallbacks."""
from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data
from skimage.metrics import structural_similarity

from gasp.config import MetricsConfig
from gasp.metrics import composite, psnr, ssim
from gasp.metrics.fid import frechet_distance
from gasp.metrics.images import background_rgb, composite_rgba


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Empty weights_dir and empty library caches: whatever this machine has cached is invisible."""
    for var in ("TORCH_HOME", "HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return MetricsConfig(weights_dir=str(tmp_path / "weights"))


def astronaut(size=128, dx=0, dy=0) -> torch.Tensor:
    """A crop of scikit-image's astronaut photo around her face (a real face), (1,3,size,size)."""
    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].double() / 255
    crop = img[..., 20 + dy:320 + dy, 40 + dx:340 + dx]
    return F.interpolate(crop, size=(size, size), mode="area")


def noisy(x, std, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0, 1)


def test_psnr_identical_is_inf_and_noise_matches_hand_computation():
    gt = astronaut().repeat(2, 1, 1, 1)
    assert torch.isinf(psnr(gt, gt)).all()
    pred = noisy(gt, 0.05)
    mse = ((pred.numpy() - gt.numpy()) ** 2).reshape(2, -1).mean(1)
    np.testing.assert_allclose(psnr(pred, gt).numpy(), 10 * np.log10(1 / mse), rtol=1e-12)
    assert 25 < psnr(pred, gt)[0] < 27  # std 0.05 -> about 26 dB


def test_psnr_mask_uses_only_masked_pixels():
    gt = astronaut()
    pred = gt.clone()
    pred[..., :, 64:] = 0  # right half wrong
    mask = torch.zeros(1, 1, 128, 128, dtype=gt.dtype)
    mask[..., :, :64] = 1
    assert torch.isinf(psnr(pred, gt, mask)).all()
    mask[..., :, 64:65] = 1
    expect = 10 * math.log10(1 / (((pred - gt) ** 2)[..., 64:65].sum().item() / (3 * 128 * 65)))
    assert psnr(pred, gt, mask).item() == pytest.approx(expect)
    with pytest.raises(ValueError, match="empty"):
        psnr(pred, gt, torch.zeros_like(mask))


def _skimage_ssim(pred, gt):
    return [structural_similarity(p.permute(1, 2, 0).numpy(), g.permute(1, 2, 0).numpy(), gaussian_weights=True,
                                  sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)
            for p, g in zip(pred, gt)]


def test_ssim_matches_scikit_image_and_is_one_for_identical():
    gt = torch.cat([astronaut(64), astronaut(64, 30, 10)])[..., :, :50]  # non-square too
    pred = noisy(gt, 0.1)
    np.testing.assert_allclose(ssim(pred, gt).numpy(), _skimage_ssim(pred, gt), atol=1e-10)
    np.testing.assert_allclose(ssim(gt, gt).numpy(), 1.0, atol=1e-12)


def test_ssim_decreases_with_shift_and_is_differentiable():
    gt = astronaut(96)
    values = [ssim(torch.roll(gt, s, dims=-1), gt).item() for s in (0, 1, 2, 4)]
    assert values[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(values, values[1:])), values
    pred = noisy(gt, 0.1).requires_grad_(True)
    (1 - ssim(pred, gt)).sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("bad, match", [
    (torch.rand(2, 4, 16, 16), r"\(B,3,H,W\)"),
    (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    (torch.rand(1, 3, 8, 8), "11x11"),
])
def test_bad_inputs_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        ssim(bad, bad.clone())
    with pytest.raises(ValueError, match="shape"):
        psnr(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))


def test_composite_over_background():
    rgb = torch.full((1, 3, 2, 2), 0.5)
    alpha = torch.tensor([0.0, 1.0, 0.5, 0.25]).reshape(1, 1, 2, 2)
    out = composite(rgb, alpha, "white")
    assert out[0, 0].flatten().tolist() == [1.0, 0.5, 0.75, 0.875]
    assert composite(rgb, alpha, "black")[0, 0, 0, 0] == 0.0


def test_composite_rgba_is_the_same_rule_for_tensors_and_arrays():
    rgba = torch.tensor([[[0.2, 0.4, 0.6, 0.25], [1.0, 0.0, 0.5, 1.0]]])          # (1,2,4): H=1, W=2
    want = composite(rgba[..., :3].permute(2, 0, 1)[None], rgba[..., 3:].permute(2, 0, 1)[None], "white")
    got = composite_rgba(rgba, background_rgb("white"))
    assert torch.equal(got.permute(2, 0, 1)[None], want)
    arr = composite_rgba(rgba.numpy(), background_rgb("black"))
    assert np.allclose(arr, rgba[..., :3].numpy() * rgba[..., 3:].numpy())
    with pytest.raises(ValueError, match="background"):
        background_rgb("grey")


def test_psnr_cap():
    img = torch.rand(2, 3, 8, 8)
    assert torch.isinf(psnr(img, img)).all()
    assert psnr(img, img, max_db=100.0).tolist() == pytest.approx([100.0, 100.0])
    noisy = (img + 0.1).clamp(0, 1)
    assert torch.equal(psnr(noisy, img, max_db=100.0), psnr(noisy, img))


def test_frechet_distance_self_zero_and_grows_with_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 8))
    assert abs(frechet_distance(a, a)) < 1e-6
    near, far = frechet_distance(a, a + 0.1), frechet_distance(a, a + 1.0)
    assert near == pytest.approx(8 * 0.01, rel=1e-6) and far == pytest.approx(8.0, rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a[:1], a)


@pytest.fixture(scope="module")
def face_sets():
    gt = torch.cat([astronaut(128, dx, dy) for dx, dy in [(0, 0), (20, 10), (-15, 25), (10, -10)]])
    return gt


def test_suite_offline_fallbacks_name_themselves(no_weights, face_sets):
    from gasp.metrics.suite import MetricSuite

    suite = MetricSuite(no_weights)
    impls = {k: v.impl for k, v in suite.impls.items()}
    assert impls == {"LPIPS": None, "FID": "FD_dlib", "ID-SIM": "IDSIM_dlib"}
    assert "alexnet-owt-7be5be79.pth" in suite.impls["LPIPS"].reason
    assert "inception-2015-12-05.pt" in suite.impls["FID"].reason
    assert "w600k_r50.onnx" in suite.impls["ID-SIM"].reason
    per_image = suite.image_metrics(face_sets, face_sets)
    assert per_image["LPIPS"] is None and (per_image["SSIM"] == 1).all()

    gt = face_sets
    same = suite.set_metrics(gt, gt)
    assert same.faces_not_found == 0 and same.n_images == 4
    assert set(same.values) == {"FD_dlib", "IDSIM_dlib"}
    assert same.values["IDSIM_dlib"] == pytest.approx(1.0, abs=1e-9)
    assert abs(same.values["FD_dlib"]) < 1e-3
    degraded = F.avg_pool2d(noisy(gt, 0.15, seed=1), 5, stride=1, padding=2, count_include_pad=False)
    worse = suite.set_metrics(degraded, gt)
    assert worse.values["FD_dlib"] > 0.01 + abs(same.values["FD_dlib"])
    assert worse.values["IDSIM_dlib"] < 0.999

    # ground truth without a face: that pair is skipped by every face metric and counted
    blank = torch.ones_like(gt[:1])
    skipped = suite.set_metrics(torch.cat([gt[:1], blank]), torch.cat([gt[:1], blank]))
    assert skipped.faces_not_found == 1 and skipped.values["IDSIM_dlib"] == pytest.approx(1.0)
    assert skipped.values["FD_dlib"] is None and "fid_min_images" in skipped.notes["FD_dlib"]
    none = suite.set_metrics(blank.repeat(2, 1, 1, 1), blank.repeat(2, 1, 1, 1))
    assert none.values == {"FD_dlib": None, "IDSIM_dlib": None} and "no face" in none.notes["IDSIM_dlib"]
