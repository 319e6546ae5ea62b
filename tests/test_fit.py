"""Fitting (gasp/steps/fit.py), the avatar package and the fit CLI, on the ci preset.

The subject is a small dataset-format folder rendered with the real renderer from a known avatar
(template Gaussians coloured per region: skin, darker hair on the scalp, ...), with the protocol's
views (video, single, ring, rig). The prior is a real GaspPrior on the same binding with a random,
untrained decoder (its output layer is not zero, so every stage has something to optimise).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from gasp import data
from gasp.config import load_config
from gasp.methods import SETTINGS
from gasp.model.fitted_avatar import Avatar, AvatarError, Motion
from gasp.model.gaussians import template_attributes
from gasp.model.head import build_head_model
from gasp.model.head.uv import uv_binding
from gasp.model.prior import GaspPrior
from gasp.steps.fit import FitError, SEEN_WEIGHT, fit, fit_views, gaussian_visibility, make_target

C0 = 0.28209479177387814
REGION_RGB = {"face": (0.85, 0.62, 0.5), "scalp": (0.3, 0.2, 0.12), "ears": (0.8, 0.58, 0.47),
              "neck": (0.8, 0.6, 0.5), "eyes": (0.95, 0.95, 0.95), "lips": (0.7, 0.3, 0.3),
              "brows": (0.25, 0.18, 0.1), "mouth": (0.4, 0.1, 0.1)}


@pytest.fixture(scope="module")
def cfg():
    return load_config(preset="ci")


def _look(yaw, pitch, dist, focal, size):
    from gasp.camera import orbit_camera
    return orbit_camera(yaw, pitch, dist, focal, size, size)


def true_avatar(cfg) -> Avatar:
    head = build_head_model(cfg.head)
    binding = uv_binding(head, cfg.avatar.uv_resolution)
    attrs = template_attributes(binding, cfg.avatar).clone()
    rgb = torch.tensor([REGION_RGB.get(n, (0.6, 0.6, 0.6)) for n in head.REGIONS])[binding.regions]
    attrs[:, 11:14] = (rgb - 0.5) / C0
    rng = np.random.default_rng(1)
    shape = torch.as_tensor(0.7 * rng.standard_normal(head.n_shape), dtype=torch.float32)
    return Avatar(attrs, binding, shape, cfg.head, cfg.avatar, list(head.REGIONS))


def build_subject(root, cfg, sid="e0000"):
    """A dataset-format eval subject rendered from `true_avatar` (ci sizes)."""
    s = cfg.synth
    avatar = true_avatar(cfg)
    n_expr = avatar.head.n_expr
    rng = np.random.default_rng(0)
    views, groups, splits = [], [], []

    def add(group, split, yaw_cam, pitch, head_yaw=0.0, expr_scale=0.3):
        K, w2c = _look(yaw_cam, pitch, s.camera_distance, s.focal_mm, s.resolution)
        rt = np.zeros(6, np.float32)
        rt[1] = np.radians(head_yaw)
        views.append((K, w2c, (expr_scale * rng.standard_normal(n_expr)).astype(np.float32), rt))
        groups.append(group)
        splits.append(split)

    for i in range(s.video_frames):
        add("video", "test" if i % s.video_test_every == s.video_test_every - 1 else "train", 0.0, 0.0,
            head_yaw=s.video_yaw_deg * np.sin(2 * np.pi * i / s.video_frames))
    add("single", "train", 0.0, 0.0, expr_scale=0.0)
    for i in range(s.ring_views):
        add("ring", "test", 360.0 * i / s.ring_views, 5.0, expr_scale=0.0)
    for i in range(s.rig_cameras):
        add("rig", "test" if i >= s.rig_cameras - s.rig_test_cameras else "train",
            -70 + 140 * i / max(s.rig_cameras - 1, 1), 20.0 * np.sin(i), expr_scale=0.0)
    K = np.stack([v[0] for v in views])
    w2c = np.stack([v[1] for v in views])
    n = len(views)
    motion = Motion(np.stack([v[2] for v in views]), np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32),
                    np.stack([v[3] for v in views]))
    rgb, alpha = avatar.render(motion, K, w2c, s.resolution, s.resolution, background=(0.0, 0.0, 0.0))
    straight = (rgb / alpha.clamp(min=1e-6)).clamp(0, 1)
    rgba = torch.cat([straight, alpha], -1).numpy()
    d = root / sid
    for i in range(n):
        data.write_view(d, i, (rgba[i] * 255 + 0.5).astype(np.uint8), (rgba[i, ..., 3] > 0.5).astype(np.uint8))
    data.write_cameras(d, s.resolution, s.resolution,
                       [data.View(data.view_name(i), K[i], w2c[i], groups[i], splits[i]) for i in range(n)])
    data.write_params(d, avatar.shape.numpy(), motion.expr, motion.jaw, motion.neck, motion.global_rt)
    data.write_subject_meta(d, {"subject": sid, "seed": 0, "domain": "eval", "appearance": {}, "hair": {}})
    data.mark_done(d)
    return d


def random_prior(cfg) -> GaspPrior:
    head = build_head_model(cfg.head)
    binding = uv_binding(head, cfg.avatar.uv_resolution)
    prior = GaspPrior.from_binding(cfg.prior, template_attributes(binding, cfg.avatar), binding, 3,
                                   list(head.REGIONS), seed=0)
    with torch.no_grad():
        torch.nn.init.normal_(prior.out.weight, std=0.02, generator=torch.Generator().manual_seed(0))
        prior.latents.normal_(0, 1.0, generator=torch.Generator().manual_seed(1))
    return prior


@pytest.fixture(scope="module")
def subject_dir(tmp_path_factory, cfg):
    return build_subject(tmp_path_factory.mktemp("eval"), cfg)


@pytest.fixture(scope="module")
def subject(subject_dir):
    return data.load_subject(subject_dir)


@pytest.fixture(scope="module")
def prior_ckpt(tmp_path_factory, cfg):
    path = tmp_path_factory.mktemp("prior") / "prior.pt"
    random_prior(cfg).save(path, meta={"variant": "test"})
    return path


@pytest.fixture(scope="module")
def gasp_fit(subject, cfg, prior_ckpt):
    return fit(subject, "monocular", "gasp", cfg, GaspPrior.load(prior_ckpt)[0])


def test_setting_views(subject):
    assert len(fit_views(subject, "single")) == 1
    for setting, spec in SETTINGS.items():
        group, split = spec.fit_views
        v = fit_views(subject, setting)
        assert set(v.groups) == {group} and (split is None or set(v.splits) == {split})


def test_each_stage_lowers_its_loss(gasp_fit):
    assert [s.name for s in gasp_fit.stages] == ["invert", "decoder", "refine"]
    for s in gasp_fit.stages:
        assert s.loss_after < s.loss_before, s


def test_stage2_reaches_unseen_gaussians_stage3_does_not(gasp_fit, subject, cfg):
    """Visibility: each Gaussian's compositing weight in each fit view (pixels), after stage 1."""
    avatar = gasp_fit.avatar
    target = make_target(fit_views(subject, "monocular"), avatar.head, torch.ones(3), "cpu")
    vis = gaussian_visibility(gasp_fit.snapshots["invert"], target.verts, target, avatar.head.faces, avatar.binding, cfg.avatar)
    seen, unseen = vis.sum(0) > 1.0, (vis <= SEEN_WEIGHT).all(0)
    assert seen.sum() > 50 and unseen.sum() > 50
    snap = gasp_fit.snapshots
    d2 = (snap["decoder"] - snap["invert"]).norm(dim=1)
    d3 = (snap["refine"] - snap["decoder"]).norm(dim=1)
    print(f"visibility: {int(seen.sum())} seen, {int(unseen.sum())} unseen of {vis.shape[1]}; "
          f"stage 2 mean change seen {d2[seen].mean():.4f} unseen {d2[unseen].mean():.4f}; "
          f"stage 3 seen {d3[seen].mean():.4f} unseen {d3[unseen].mean():.4f}")
    assert d2[unseen].mean() > 0.3 * d2[seen].mean()  # the decoder carries the fit to unseen regions
    assert d3[unseen].mean() < 0.1 * d3[seen].mean()  # direct refinement stays where the views see


def test_baselines_fit_without_prior(subject, cfg):
    for method in ("no_prior", "flashavatar_style"):
        res = fit(subject, "single", method, cfg)
        assert [s.name for s in res.stages] == ["refine"]
        assert res.stages[0].loss_after < res.stages[0].loss_before
        assert (res.avatar.mlp is not None) == (method == "flashavatar_style")


def test_prior_method_needs_prior(subject, cfg):
    with pytest.raises(FitError, match="prior"):
        fit(subject, "single", "gasp", cfg)


def test_save_load_renders_identically(gasp_fit, subject, tmp_path):
    views = subject.select("ring")
    motion = Motion.from_subject(views)
    before = gasp_fit.avatar.render(motion, views.K, views.w2c, subject.width, subject.height)
    gasp_fit.avatar.save(tmp_path / "a.npz")
    after = Avatar.load(tmp_path / "a.npz").render(motion, views.K, views.w2c, subject.width, subject.height)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_truncated_avatar_names_file(gasp_fit, tmp_path):
    path = tmp_path / "a.npz"
    gasp_fit.avatar.save(path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(AvatarError, match="a.npz"):
        Avatar.load(path)


def test_cli_fit_export_turntable_animate(subject_dir, prior_ckpt, tmp_path, capsys):
    from gasp.cli import main

    out = tmp_path / "fit"
    assert main(["fit", str(subject_dir), "--setting", "single", "--method", "flashavatar_style", "--out", str(out),
                 "--preset", "ci"]) == 0
    summary = json.loads((out / "fit.json").read_text())
    assert summary["method"] == "flashavatar_style" and summary["stages"][0]["seconds"] > 0
    assert Avatar.load(out / "avatar.npz").meta["fit_seconds"] == summary["fit_seconds"]
    assert "weights" in summary["network"]
    assert main(["export", str(out / "avatar.npz"), "--ply", str(tmp_path / "a.ply"), "--expression", "1,0.5"]) == 0
    assert main(["turntable", str(out / "avatar.npz"), "--out", str(tmp_path / "t.gif"), "--frames", "3",
                 "--preset", "ci"]) == 0
    assert main(["animate", str(out / "avatar.npz"), "--drive", str(subject_dir / "params.npz"),
                 "--out", str(tmp_path / "a.mp4"), "--preset", "ci"]) == 0
    text = capsys.readouterr().out
    assert "frames/s" in text and "fit time" in text
    for f in ("a.ply", "t.gif", "a.mp4"):
        assert (tmp_path / f).stat().st_size > 0


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    from gasp.cli import main

    (tmp_path / "a.npz").write_bytes(b"not a zip")
    assert main(["turntable", str(tmp_path / "a.npz"), "--out", str(tmp_path / "t.gif")]) == 2
    assert "a.npz" in capsys.readouterr().err


def test_animate_rejects_nan_drive(tmp_path):
    path = tmp_path / "drive.npz"
    np.savez(path, expr=np.full((2, 12), np.nan), jaw=np.zeros((2, 3)), neck=np.zeros((2, 3)),
             global_rt=np.zeros((2, 6)))
    with pytest.raises(AvatarError, match="drive.npz: expr"):
        Motion.from_npz(path)


def test_tracking_refinement_folds_into_the_head_parameters(cfg):
    """The corrections applied to posed meshes equal posing the head with the refined parameters
    (neck and jaw at rest, as a capture's rigid head): the poses and identity written back to a capture
    show what the fit saw."""
    from gasp.steps.fit import TrackingRefinement

    head = build_head_model(cfg.head)
    rng = np.random.default_rng(3)
    V = 3
    rt = torch.as_tensor(np.concatenate([0.3 * rng.standard_normal((V, 3)), 0.05 * rng.standard_normal((V, 3))], 1),
                         dtype=torch.float32)
    expr, zeros = torch.zeros(V, head.n_expr), torch.zeros(V, 3)
    shape0 = torch.as_tensor(0.5 * rng.standard_normal(head.n_shape), dtype=torch.float32)
    pose = TrackingRefinement(rt, head.shapedirs)
    with torch.no_grad():
        pose.rot.copy_(torch.as_tensor(0.1 * rng.standard_normal((V, 3))))
        pose.trans.copy_(torch.as_tensor(0.01 * rng.standard_normal((V, 3))))
        pose.dshape.copy_(torch.as_tensor(0.5 * rng.standard_normal(head.n_shape)))
        before = head.verts(shape0.expand(V, -1), expr, zeros, zeros, rt)
        corrected = pose.apply(before, torch.arange(V))
        refolded = head.verts((shape0 + pose.dshape).expand(V, -1), expr, zeros, zeros,
                              torch.as_tensor(pose.refined()))
    assert float((corrected - refolded).abs().max()) < 1e-5
    assert float((corrected - before).abs().max()) > 1e-3  # it did move


def test_fit_refining_the_tracking_returns_poses_and_identity(subject, cfg, prior_ckpt, gasp_fit):
    res = fit(subject, "monocular", "gasp", cfg, GaspPrior.load(prior_ckpt)[0], refine_tracking=True)
    views = fit_views(subject, "monocular")
    assert res.global_rt.shape == (len(views), 6) and np.isfinite(res.global_rt).all()
    assert 0 < np.abs(res.global_rt - views.global_rt).max() < 0.5   # moved, by less than ~30 degrees
    assert 0 < np.abs(res.avatar.shape.numpy() - views.shape).max() < 3
    assert gasp_fit.global_rt is None                                  # off unless asked
    np.testing.assert_array_equal(gasp_fit.avatar.shape.numpy(), views.shape)


def test_align_poses_recovers_head_poses_against_a_frozen_avatar(subject, cfg):
    """Poses knocked 6 degrees and 5 mm off are pulled back to the ones the images were rendered with
    (the avatar that rendered them, frozen; it does not change)."""
    from scipy.spatial.transform import Rotation

    from gasp.steps.fit import align_poses

    avatar = true_avatar(cfg)
    views = subject.select("video")
    rng = np.random.default_rng(5)
    axes = rng.standard_normal((len(views), 3))
    kick = Rotation.from_rotvec(np.radians(6.0) * axes / np.linalg.norm(axes, axis=1, keepdims=True))
    off = views.global_rt.copy()
    off[:, :3] = (kick * Rotation.from_rotvec(views.global_rt[:, :3])).as_rotvec()
    off[:, 3:] += 0.005 * rng.standard_normal((len(views), 3))
    attrs = avatar.attrs.clone()

    aligned = align_poses(avatar, dataclasses.replace(views, global_rt=off.astype(np.float32)), cfg, passes=30)

    def err_deg(rt):
        return np.degrees((Rotation.from_rotvec(rt[:, :3]) * Rotation.from_rotvec(views.global_rt[:, :3]).inv()).magnitude())
    assert aligned.shape == off.shape and np.isfinite(aligned).all()
    assert np.median(err_deg(aligned)) < 0.5 * np.median(err_deg(off)) and np.median(err_deg(off)) > 5.9
    assert np.median(np.linalg.norm(aligned[:, 3:] - views.global_rt[:, 3:], axis=1)) < \
        np.median(np.linalg.norm(off[:, 3:] - views.global_rt[:, 3:], axis=1))
    assert torch.equal(avatar.attrs, attrs)


def _similarity(views, scale, rot_deg, shift_m):
    from gasp.steps.fit import HeadSimilarity

    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    sim = HeadSimilarity(t(views.global_rt), t(views.neck))
    with torch.no_grad():
        sim.log_scale.fill_(np.log(scale))
        sim.rot.copy_(torch.tensor([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2]) * np.radians(rot_deg))
        sim.shift.copy_(torch.tensor(shift_m))
    return sim


def test_head_similarity_in_the_cameras_renders_as_the_moved_head(subject, cfg):
    """The ring cameras carry a head-frame similarity exactly: rendering the head scaled, turned and
    shifted equals rendering it as it is with HeadSimilarity.cameras (necks turned, too)."""
    from gasp.model.splat import compact_binding, splat_frames

    avatar = true_avatar(cfg)
    views = subject.select("video")
    views = dataclasses.replace(views, neck=(0.1 * np.random.default_rng(2).standard_normal((len(views), 3))).astype(np.float32))
    sim = _similarity(views, 0.85, 8.0, [0.004, -0.003, 0.006])
    motion = Motion.from_subject(views)
    idx = torch.arange(len(views))
    faces, binding = compact_binding(avatar.head.faces, avatar.binding)
    with torch.no_grad():
        moved, _ = splat_frames(avatar.frame_attributes(motion), sim.apply(avatar.verts(motion), idx), faces, binding,
                                avatar.avatar_cfg, torch.as_tensor(views.K), torch.as_tensor(views.w2c), views.width,
                                views.height, torch.ones(3))
    carried, _ = avatar.render(motion, views.K, sim.cameras(views.w2c, views.global_rt, views.neck), views.width, views.height)
    plain, _ = avatar.render(motion, views.K, views.w2c, views.width, views.height)
    assert float((moved - carried).abs().max()) < 2e-3
    assert float((moved - plain).abs().mean()) > 0.02          # the similarity does change the images


def test_align_similarity_recovers_a_known_similarity(subject, cfg):
    """Views rendered with the head 12% smaller, turned 4 degrees and shifted 3 mm: aligning the frozen
    avatar to them from the identity finds that similarity."""
    from gasp.steps.fit import align_similarity

    avatar = true_avatar(cfg)
    views = subject.select("video")
    truth = _similarity(views, 0.88, 4.0, [0.0, 0.003, 0.0])
    rgb, alpha = avatar.render(Motion.from_subject(views), views.K, truth.cameras(views.w2c, views.global_rt, views.neck),
                               views.width, views.height, background=(0.0, 0.0, 0.0))
    rgba = torch.cat([(rgb / alpha.clamp(min=1e-6)).clamp(0, 1), alpha], -1).numpy()
    found = align_similarity(avatar, dataclasses.replace(views, images=rgba), cfg, passes=30)
    assert abs(found.scale - 0.88) < 0.02
    assert float((found.rot - truth.rot).norm()) < np.radians(1.5)
    assert float((found.shift - truth.shift).norm()) < 0.0015
