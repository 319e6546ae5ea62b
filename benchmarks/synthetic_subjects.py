"""Synthetic subjects at any size without Blender, rendered with the project's own renderer, for
benchmarks that need data of the right shape (benchmarks/gpu_check.py): prior-domain subjects
(views all around the head) and an eval subject (a monocular video), written in the dataset format
of gasp/data.py so that training and fitting read them as they read BlenderProc's.

Each subject is an `Avatar` of template Gaussians (gasp/model/gaussians.py) on a random identity, coloured
per head region with a skin tone, hair and lip colour drawn from its seed, and posed per view with a
random expression. The images are what the avatar looks like, so a prior trained on them and a fit
to them have something real to reconstruct; their realism is not the point.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gasp import data
from gasp.camera import orbit_camera
from gasp.config import Config
from gasp.model.fitted_avatar import Avatar, Motion, head_model
from gasp.model.gaussians import SH_C0, SH_DC, template_attributes
from gasp.model.head.uv import Binding, uv_binding

EXPR_STD = 0.3  # expression coefficients per view (the head model's units)


def subject_avatar(cfg: Config, binding: Binding, seed: int) -> Avatar:
    """Template Gaussians on `binding`, coloured per region, identity ~ 0.7 N(0, 1) of seed `seed`."""
    head = head_model(cfg.head)
    rng = np.random.default_rng(seed)
    skin = np.array([0.92, 0.68, 0.55]) * rng.uniform(0.35, 1.0)    # light to dark, one hue
    hair = rng.uniform(0.05, 0.55) * np.array([1.0, 0.75, 0.5])
    lips = skin * np.array([0.85, 0.5, 0.5])
    rgb = {"face": skin, "ears": skin * 0.95, "neck": skin * 0.9, "scalp": hair, "brows": hair * 0.8,
           "eyes": np.array([0.93, 0.93, 0.9]), "lips": lips, "mouth": np.array([0.35, 0.1, 0.1])}
    colour = torch.tensor(np.stack([rgb.get(n, skin) for n in head.REGIONS]), dtype=torch.float32)
    attrs = template_attributes(binding, cfg.avatar).clone()
    attrs[:, SH_DC] = (colour[binding.regions] - 0.5) / SH_C0
    shape = torch.as_tensor(0.7 * rng.standard_normal(head.n_shape), dtype=torch.float32)
    return Avatar(attrs, binding, shape, cfg.head, cfg.avatar, list(head.REGIONS))


def write_subject(subject_dir: Path, avatar: Avatar, cams: list[tuple[np.ndarray, np.ndarray]], size: int,
                  groups: list[str], splits: list[str], motion: Motion, domain: str, seed: int, device) -> Path:
    """Render `avatar` posed by frame t of `motion` at camera t (K (3,3), w2c (4,4)), size x size pixels, and
    write the subject folder (RGBA views, alpha > 0.5 as the skin mask, cameras, parameters, subject.json, DONE)."""
    K, w2c = np.stack([c[0] for c in cams]), np.stack([c[1] for c in cams])
    rgb, alpha = avatar.to(device).render(motion, K, w2c, size, size, background=(0.0, 0.0, 0.0))
    straight = (rgb / alpha.clamp(min=1e-6)).clamp(0, 1)   # rendered over black: un-premultiply
    rgba = torch.cat([straight, alpha], -1).cpu().numpy()
    for i in range(len(cams)):
        data.write_view(subject_dir, i, (rgba[i] * 255 + 0.5).astype(np.uint8),
                        (rgba[i, ..., 3] > 0.5).astype(np.uint8))
    data.write_cameras(subject_dir, size, size, [data.View(data.view_name(i), K[i], w2c[i], groups[i], splits[i])
                                                 for i in range(len(cams))])
    data.write_params(subject_dir, avatar.shape.cpu().numpy(), motion.expr, motion.jaw, motion.neck,
                      motion.global_rt)
    data.write_subject_meta(subject_dir, {"subject": subject_dir.name, "seed": seed, "domain": domain,
                                          "appearance": {"generator": "benchmarks/synthetic_subjects.py"},
                                          "hair": {}})
    data.mark_done(subject_dir)
    return subject_dir


def random_motion(n_frames: int, n_expr: int, rng: np.random.Generator, head_yaw_deg=None) -> Motion:
    """Random expressions (EXPR_STD); head yaw per frame in degrees (None: facing the front)."""
    m = Motion.neutral(n_frames, n_expr)
    m.expr[:] = EXPR_STD * rng.standard_normal((n_frames, n_expr))
    if head_yaw_deg is not None:
        m.global_rt[:, 1] = np.radians(head_yaw_deg)
    return m


def prior_domain(root: Path, cfg: Config, device, binding: Binding | None = None) -> Path:
    """cfg.synth.prior_subjects subjects x prior_views views at cfg.synth.resolution, yaw over 360
    degrees in increasing order (as the prior set stores them) -> root/prior with manifest.json."""
    s = cfg.synth
    binding = binding or uv_binding(head_model(cfg.head), cfg.avatar.uv_resolution)
    domain_dir = Path(root) / "prior"
    ids = []
    for j in range(s.prior_subjects):
        seed = s.seed + 1000 + j
        rng = np.random.default_rng(seed)
        yaws = np.sort(rng.uniform(0, 360, s.prior_views))
        cams = [orbit_camera(y, rng.uniform(s.pitch_min_deg, s.pitch_max_deg), s.camera_distance, s.focal_mm,
                             s.resolution, s.resolution) for y in yaws]
        avatar = subject_avatar(cfg, binding, seed)
        ids.append(data.subject_id("prior", j))
        write_subject(domain_dir / ids[-1], avatar, cams, s.resolution, ["prior"] * len(cams), ["train"] * len(cams),
                      random_motion(len(cams), avatar.head.n_expr, rng), "prior", seed, device)
    data.write_manifest(domain_dir, "prior", ids, cfg.to_dict()["synth"])
    return domain_dir


def video_subject(root: Path, cfg: Config, device, binding: Binding | None = None) -> Path:
    """One held-out subject filmed by a fixed front camera: cfg.synth.video_frames frames, the head
    turning +-video_yaw_deg with changing expressions, every video_test_every-th frame held out ->
    root/eval/e0000 (what the monocular setting fits)."""
    s = cfg.synth
    binding = binding or uv_binding(head_model(cfg.head), cfg.avatar.uv_resolution)
    seed = s.seed + 2000
    rng = np.random.default_rng(seed)
    n = s.video_frames
    cam = orbit_camera(0.0, 0.0, s.camera_distance, s.focal_mm, s.resolution, s.resolution)
    splits = ["test" if i % s.video_test_every == s.video_test_every - 1 else "train" for i in range(n)]
    avatar = subject_avatar(cfg, binding, seed)
    yaw = s.video_yaw_deg * np.sin(2 * np.pi * np.arange(n) / n)
    return write_subject(Path(root) / "eval" / data.subject_id("eval", 0), avatar, [cam] * n, s.resolution,
                         ["video"] * n, splits, random_motion(n, avatar.head.n_expr, rng, yaw), "eval", seed, device)
