"""Fit a person's avatar from one image, a short video or a multi-view rig (the paper's three stages).

    stage "invert"  : optimise the identity code z of the prior          (A = C + D(f, z))
    stage "decoder" : fine-tune the decoder D, features f and template C frozen
    stage "refine"  : bake A and optimise the Gaussians directly
    L_prior         : L2 from the current attributes to the stage-1 attributes, in every stage
                      (in stage 1 itself: to the attributes it started from, the prior's mean avatar)

Baselines and ablations are switches (gasp/methods.py `METHODS`) on this one implementation. The result is an
`Avatar` (gasp/model/fitted_avatar.py): Gaussians bound to the head mesh, animated by the head model,
no prior and no decoder needed.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from gasp.config import Config
from gasp.data import Subject
from gasp.methods import METHODS, SETTINGS, Method
from gasp.metrics.images import background_rgb, composite_rgba
from gasp.model.fitted_avatar import Avatar, Motion, OffsetMLP, apply_offsets, head_model, motion_condition
from gasp.model.gaussians import gaussians_from_attributes, template_attributes
from gasp.model.head.uv import uv_binding
from gasp.model.prior import GaspPrior
from gasp.model.render import rasterize
from gasp.model.splat import compact_binding, splat_frames
from gasp.steps import losses

LOSS_VIEWS = 8  # views of the fixed set on which each stage's loss is measured before and after
# Stage 3 updates a Gaussian only in steps whose frames see it: compositing weight above this many
# pixels in the view (gaussian_visibility, measured once when the stage starts). Adam normalises
# gradient size away, so without the mask a Gaussian seen through a 1e-3 transmittance gap, or
# pulled only by L_prior, would move as far as a fully visible one.
SEEN_WEIGHT = 0.1
# Tracking refinement (`fit(refine_tracking=True)`, for tracked videos): Adam steps on each view's
# head rotation (rad) and position (m) and on the identity coefficients (unit prior std). Measured
# on a tracked synthetic video (docs/capture.md): the ring PSNR rose 20.0 -> 22.5 dB (identity 0.02:
# 21.8, 0.1: 22.3) and the worst rotation error fell 11 -> 9 degrees.
POSE_LR_ROT = 0.01
POSE_LR_TRANS = 0.001
SHAPE_LR = 0.05
# `align_poses`: passes over the frames (ALIGN_BATCH frames per Adam step, the rates above). Measured on
# a tracked synthetic video (docs/capture.md): the median head-rotation error fell 3.3 -> 2.4 degrees
# at 10 passes, held-out PSNR rose 24.3 -> 28.2 dB; 20 passes gained nothing more.
ALIGN_PASSES = 10
ALIGN_BATCH = 4
# FitResult.lpips, stored in fit.json and in the avatar file's metadata
LPIPS_NOTES = {"used": "used", "off": "w_lpips = 0", "missing": "LPIPS weights missing: w_lpips = 0"}


class FitError(ValueError):
    """Bad fitting input; the message names the file and the field."""


def method_spec(name: str) -> Method:
    if name not in METHODS:
        raise FitError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]


def fit_views(subject: Subject, setting: str) -> Subject:
    """The views a setting fits on (monocular: video/train; single: the single frame; multiview: rig/train)."""
    if setting not in SETTINGS:
        raise FitError(f"unknown setting {setting!r}; known: {', '.join(SETTINGS)}")
    group, split = SETTINGS[setting].fit_views
    views = subject.select(group, split)
    if len(views) == 0:
        raise FitError(f"{subject.dir / 'cameras.json'}: views: none with group {group!r}"
                       f"{'' if split is None else f' and split {split!r}'} (needed by setting {setting!r})")
    if views.images is None:
        raise FitError(f"{subject.dir}: images: not loaded")
    return views


@dataclass
class Target:
    """Fit views as tensors: rgb (V,H,W,3) composited on the background, alpha (V,H,W,1), K (V,3,3),
    w2c (V,4,4), verts (V,Vv,3) the posed mesh per view, cond (V,E+3) expression condition."""
    rgb: Tensor
    alpha: Tensor
    K: Tensor
    w2c: Tensor
    verts: Tensor
    cond: Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.rgb)


def make_target(views: Subject, head, background: Tensor, device) -> Target:
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    img = t(views.images)
    alpha = img[..., 3:4]
    rgb = composite_rgba(img, background)
    motion = Motion.from_subject(views)
    with torch.no_grad():
        shape = t(views.shape).unsqueeze(0).expand(len(views), -1)
        verts = head.verts(shape, t(motion.expr), t(motion.jaw), t(motion.neck), t(motion.global_rt))
    return Target(rgb, alpha, t(views.K), t(views.w2c), verts, motion_condition(motion, device),
                  views.width, views.height)


class Adam:
    """Adam on a list of tensors, with an optional row mask for the attribute tensor.

    Our own rather than torch.optim.Adam, whose first use imports torch._dynamo (about 10 s per
    fitting process). With `row_selective`, `step(rows)` updates only the rows (Gaussians) given,
    as gsplat's SelectiveAdam (there "rows" = projected into the view; here = seen, SEEN_WEIGHT):
    the other rows keep their values and moments. `lr`: a float, or (A,) per attribute column.
    """

    def __init__(self, params: list[Tensor], lr: float | Tensor, row_selective: bool = False, betas=(0.9, 0.999),
                 eps: float = 1e-8):
        self.params, self.lr, self.row_selective, self.betas, self.eps = list(params), lr, row_selective, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = [torch.zeros(p.shape[0], *[1] * (p.dim() - 1), device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, rows: Tensor | None = None) -> None:
        b1, b2 = self.betas
        sel = rows if (self.row_selective and rows is not None) else slice(None)
        for p, m, v, t in zip(self.params, self.m, self.v, self.t):
            if p.grad is None:
                continue
            g = p.grad[sel]
            t[sel] += 1  # per-row step count: bias correction counts only the steps a row took
            m[sel] = m_s = b1 * m[sel] + (1 - b1) * g
            v[sel] = v_s = b2 * v[sel] + (1 - b2) * g * g
            p[sel] -= self.lr * (m_s / (1 - b1 ** t[sel])) / ((v_s / (1 - b2 ** t[sel])).sqrt() + self.eps)


@dataclass
class StageReport:
    name: str
    steps: int
    seconds: float
    loss_before: float
    loss_after: float


@dataclass
class FitResult:
    """avatar; per-stage reports; per-step log rows; attributes (N,A) at the end of each stage; seconds
    from the call to the avatar (data preparation included)."""
    avatar: Avatar
    stages: list[StageReport]
    log: list[dict]
    snapshots: dict[str, Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    lpips: str = ""  # whether LPIPS was used (its weights may be missing)
    global_rt: np.ndarray | None = None  # (V,6) the fit views' head poses after refine_tracking


class TrackingRefinement:
    """Corrections of a tracked capture's head parameters, learnt together with the avatar: poses and
    identity tracked from landmarks alone are estimates, and the images (the alpha term above all:
    the skull's outline, which no landmark sees) say more. GaussianAvatars refines its tracked FLAME
    parameters the same way. Per view rot (V,3) axis-angle and trans (V,3) metres act about the
    head's position p: verts' = R (verts + R_head dshape_offset - p) + p + trans; dshape (S,) is one
    identity correction for all views, its offset carried by each view's head rotation (exact with
    the neck and jaw at rest, tests/test_fit.py; with the jaw open, the jaw joint's shift with the
    identity is left out). A step updates the views of its batch and, with `identity`, the identity."""

    def __init__(self, global_rt: Tensor, shapedirs: Tensor, identity: bool = True):
        from gasp.model.head.model import axis_angle_to_matrix

        self.pivot = global_rt[:, 3:].clone()                       # (V,3) the head's position
        self.R = axis_angle_to_matrix(global_rt[:, :3])              # (V,3,3) the head's rotation
        self.rot = torch.zeros_like(self.pivot, requires_grad=True)
        self.trans = torch.zeros_like(self.pivot, requires_grad=True)
        self._opts = (Adam([self.rot], POSE_LR_ROT, row_selective=True), Adam([self.trans], POSE_LR_TRANS, row_selective=True))
        self.shapedirs = shapedirs                                   # (Vv,3,S)
        self.dshape = torch.zeros(shapedirs.shape[-1], device=global_rt.device, requires_grad=identity)
        self._shape_opt = Adam([self.dshape], SHAPE_LR) if identity else None

    def apply(self, verts: Tensor, idx: Tensor) -> Tensor:
        """verts (B,Vv,3) posed meshes of views idx (B,) -> the corrected meshes."""
        from gasp.model.head.model import axis_angle_to_matrix

        verts = verts + (self.shapedirs @ self.dshape)[None] @ self.R[idx].transpose(1, 2)
        p = self.pivot[idx, None]
        return (verts - p) @ axis_angle_to_matrix(self.rot[idx]).transpose(1, 2) + p + self.trans[idx, None]

    def step(self, idx: Tensor) -> None:
        for opt in self._opts:
            opt.step(idx)
            opt.zero_grad()
        if self._shape_opt is not None:
            self._shape_opt.step()
            self._shape_opt.zero_grad()

    def refined(self) -> np.ndarray:
        """(V,6) global_rt with the corrections folded in (exact when the neck is at rest, as in captures)."""
        from scipy.spatial.transform import Rotation

        from gasp.model.head.model import axis_angle_to_matrix

        with torch.no_grad():
            R = (axis_angle_to_matrix(self.rot) @ self.R).cpu().double().numpy()
            t = (self.pivot + self.trans).cpu().numpy()
        return np.concatenate([Rotation.from_matrix(R).as_rotvec(), t], 1).astype(np.float32)


class HeadSimilarity:
    """One similarity of the head in its own frame, shared by all views: scaled by s about the head's
    position p, turned by Q, shifted by u (metres, head frame): verts' = p + R (s Q R^T (verts - p) + u),
    R = the view's head rotation (global, then neck, as `gasp.capture.correspondence.head_rotation`;
    p does not follow the neck, which moves it by a millimetre at the eval videos' neck angles).
    A monocular capture fixes the head only up to such a similarity (its size against its distance
    under an unknown focal length, and the tracker's own frame): the capture benchmark aligns it on
    the fit frames before scoring new views, as pose-free novel-view evaluations align their cameras
    on the training views. global_rt (V,6), neck (V,3): the views' head poses."""

    def __init__(self, global_rt: Tensor, neck: Tensor):
        self.R, self.pivot = _head_frames(global_rt, neck)                                 # (V,3,3), (V,3)
        self.log_scale = torch.zeros(1, device=global_rt.device, requires_grad=True)
        self.rot = torch.zeros(3, device=global_rt.device, requires_grad=True)             # Q, axis-angle
        self.shift = torch.zeros(3, device=global_rt.device, requires_grad=True)           # u
        self._opts = (Adam([self.log_scale, self.rot], POSE_LR_ROT), Adam([self.shift], POSE_LR_TRANS))

    def apply(self, verts: Tensor, idx: Tensor) -> Tensor:
        """verts (B,Vv,3) posed meshes of views idx (B,) -> the transformed meshes."""
        from gasp.model.head.model import axis_angle_to_matrix

        R, p = self.R[idx], self.pivot[idx, None]
        local = (verts - p) @ R                                      # head frame
        moved = self.log_scale.exp() * local @ axis_angle_to_matrix(self.rot).T + self.shift
        return p + moved @ R.transpose(1, 2)

    def step(self, idx: Tensor) -> None:
        for opt in self._opts:
            opt.step()
            opt.zero_grad()

    @property
    def scale(self) -> float:
        return float(self.log_scale.detach().exp())

    def rotation(self) -> np.ndarray:
        """(3,3) Q: the head frame's turn."""
        from gasp.model.head.model import axis_angle_to_matrix

        return axis_angle_to_matrix(self.rot.detach().cpu().double()).numpy()

    def cameras(self, w2c: np.ndarray, global_rt: np.ndarray, neck: np.ndarray) -> np.ndarray:
        """w2c (T,4,4) of views whose heads are posed by global_rt (T,6), neck (T,3) -> (T,4,4) rigid
        cameras that see the head as transformed by this similarity. A similarity of the scene equals
        a rigid move of the camera with its translation divided by s (splatting's image does not change
        when camera space is scaled), so a renderer needs no change."""
        f64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
        with torch.no_grad():
            Rs, ps = (a.numpy() for a in _head_frames(f64(global_rt), f64(neck)))
            Q = self.rotation()
            s, u = self.scale, self.shift.detach().cpu().double().numpy()
        out = np.array(w2c, np.float64)
        for j, (R, p) in enumerate(zip(Rs, ps)):
            M = R @ Q @ R.T
            b = p - s * M @ p + R @ u                                  # world: x -> s M x + b
            out[j, :3, :3] = w2c[j][:3, :3] @ M
            out[j, :3, 3] = (w2c[j][:3, :3] @ b + w2c[j][:3, 3]) / s
        return out.astype(np.asarray(w2c).dtype)


def _head_frames(global_rt: Tensor, neck: Tensor) -> tuple[Tensor, Tensor]:
    """global_rt (V,6), neck (V,3) -> the head's rotation (V,3,3) (global, then neck) and position (V,3)."""
    from gasp.model.head.model import axis_angle_to_matrix

    return axis_angle_to_matrix(global_rt[:, :3]) @ axis_angle_to_matrix(neck), global_rt[:, 3:].clone()


def _align(avatar: Avatar, views: Subject, cfg: Config, correction, passes: int, device, seed: int,
           progress: bool, desc: str) -> None:
    """Adam steps on `correction` (apply(verts, idx) -> verts, step(idx)) against views (images loaded)
    with the avatar frozen, from the fitting loss: ALIGN_BATCH views a step, `passes` over them."""
    background = torch.tensor(background_rgb(cfg.eval.background), device=device)
    target = make_target(dataclasses.replace(views, shape=avatar.shape.cpu().numpy()), avatar.head, background, device)
    faces, binding = compact_binding(avatar.head.faces, avatar.binding)
    motion = Motion.from_subject(views)
    photometric = losses.Photometric(cfg.fit, cfg.metrics)
    gen = torch.Generator().manual_seed(seed)
    steps = int(np.ceil(passes * len(target) / ALIGN_BATCH))
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False, mininterval=0.5):
        idx = torch.randperm(len(target), generator=gen)[:ALIGN_BATCH]
        with torch.no_grad():
            attrs = avatar.frame_attributes(motion.take(idx.numpy()))
        rgb, alpha = splat_frames(attrs, correction.apply(target.verts[idx], idx), faces, binding, avatar.avatar_cfg,
                                  target.K[idx], target.w2c[idx], target.width, target.height, background)
        photometric(rgb, alpha, target.rgb[idx], target.alpha[idx]).backward()
        correction.step(idx)


def align_poses(avatar: Avatar, views: Subject, cfg: Config, passes: int = ALIGN_PASSES, device: str | torch.device = "cpu",
                seed: int = 0, progress: bool = False) -> np.ndarray:
    """Each view's head pose aligned to the frozen avatar: views (V) of a tracked capture (images
    loaded, global_rt the poses to start from) -> (V,6) global_rt. Only per-view rotation and
    position corrections (TrackingRefinement without the identity) learn, from the fitting loss;
    the avatar does not change. What test-time pose optimisation does before a pose-free novel-view
    evaluation, and what a capture's held-out frames need: the fit refined only the frames it saw,
    and a tracked pose is a few degrees off (docs/capture.md)."""
    avatar = avatar.to(device)
    tracking = TrackingRefinement(torch.as_tensor(views.global_rt, dtype=torch.float32, device=device),
                                  avatar.head.shapedirs, identity=False)
    _align(avatar, views, cfg, tracking, passes, device, seed, progress, "align poses")
    return tracking.refined()


def align_similarity(avatar: Avatar, views: Subject, cfg: Config, passes: int = ALIGN_PASSES,
                     device: str | torch.device = "cpu", seed: int = 0, progress: bool = False) -> HeadSimilarity:
    """The HeadSimilarity that best fits the frozen avatar, posed by the views' own head parameters,
    to the views' images (V views, images loaded; the rates and batch of align_poses)."""
    avatar = avatar.to(device)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    sim = HeadSimilarity(t(views.global_rt), t(views.neck))
    _align(avatar, views, cfg, sim, passes, device, seed, progress, "align similarity")
    return sim


LOG_COLUMNS = ("stage", "step", "loss", "photo", "prior", "seconds")


def log_csv(log: list[dict]) -> str:
    """FitResult.log as CSV text (fit_log.csv), one row per optimisation step."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_COLUMNS)
    w.writeheader()
    w.writerows(log)
    return buf.getvalue()


class _Stage:
    """One stage's trainable state: `base()` -> (N,A) the static attributes (what L_prior compares),
    `frames(base, idx)` -> (N,A)|(B,N,A) the attributes rendered for frames idx, `step(photo, reg, idx)`
    one optimiser update."""
    base: Callable[[], Tensor]
    frames: Callable[[Tensor, Tensor], Tensor]
    step: Callable[[Tensor, Tensor, Tensor], None]


def _prior_stage(prior: GaspPrior, z: Tensor, params: list[Tensor], lr: float) -> _Stage:
    opt = Adam(params, lr)
    s = _Stage()
    s.base = lambda: prior.decode(z.unsqueeze(0))[0]
    s.frames = lambda base, idx: base

    def step(photo, reg, idx):
        opt.zero_grad()
        (photo + reg).backward()
        opt.step()
    s.step = step
    return s


def _refine_stage(attrs: Tensor, mlp: OffsetMLP | None, uv: Tensor, cond: Tensor, seen: Tensor, cfg: Config) -> _Stage:
    """seen (V,N) bool: which Gaussians each fit view sees; a step updates those its frames see."""
    row_opt = Adam([attrs], cfg.fit.lr_gaussians, row_selective=True, eps=1e-15)  # 3DGS's eps
    mlp_opt = None if mlp is None else Adam(list(mlp.parameters()), cfg.fit.lr_decoder)
    s = _Stage()
    s.base = lambda: attrs
    s.frames = (lambda base, idx: base) if mlp is None else (lambda base, idx: apply_offsets(base, mlp, uv, cond[idx]))

    def step(photo, reg, idx):
        row_opt.zero_grad()
        if mlp_opt is not None:
            mlp_opt.zero_grad()
        (photo + reg).backward()
        row_opt.step(seen[idx].any(0))
        if mlp_opt is not None:
            mlp_opt.step()
    s.step = step
    return s


def prior_loss(attrs: Tensor, ref: Tensor | None, weight: float) -> Tensor:
    """weight * L_prior (losses.prior_reg: mean over Gaussians of ||A_i - ref_i||^2); 0 without a reference."""
    if ref is None or weight == 0:
        return attrs.new_zeros(())
    return weight * losses.prior_reg(attrs, ref)


def gaussian_visibility(attrs: Tensor, verts: Tensor, target: Target, faces: Tensor, binding, avatar_cfg) -> Tensor:
    """How much each Gaussian shows in each target view: its compositing weight alpha_i * T_i summed
    over the pixels of view v -> (V,N), in pixels. Zero for Gaussians hidden behind others (past
    the rasterizer's transmittance cut-off) or outside the view.

    Rendered with one scalar colour c_vi per Gaussian: view v's image is sum_i c_vi alpha_i T_i, so
    the gradient of its sum with respect to c_vi is exactly that weight.
    """
    c = torch.zeros(len(target), attrs.shape[-2], 1, device=attrs.device, requires_grad=True)
    with torch.no_grad():
        means, quats, scales, opacities, _ = gaussians_from_attributes(attrs.detach(), verts, faces, binding,
                                                                       avatar_cfg.scale_mode)
    for t in range(len(target)):
        img, _, _ = rasterize(means[t], quats[t], scales[t], opacities[t], c[t], target.w2c[t:t + 1],
                              target.K[t:t + 1], target.width, target.height)
        img.sum().backward()
    return c.grad[..., 0]


def fit(subject: Subject, setting: str, method: str, cfg: Config, prior: GaspPrior | None = None,
        device: str | torch.device = "cpu", seed: int = 0, echo: Callable[[str], None] | None = None,
        progress: bool = False, refine_tracking: bool = False) -> FitResult:
    """Fit `method` to the `setting` views of `subject` (images loaded). `prior` is required by the
    methods that start from it and ignored by the others (it is copied, never modified).
    `progress`: a progress bar per stage (stderr). `refine_tracking`: learn corrections of the head
    poses and the identity in every stage (TrackingRefinement; for tracked videos, whose parameters
    are estimates); the avatar takes the refined identity, FitResult.global_rt the refined poses."""
    spec = method_spec(method)
    if spec.from_prior and prior is None:
        raise FitError(f"method {method!r} needs a prior checkpoint (--prior)")
    echo = echo or (lambda s: None)
    t_start = time.perf_counter()
    head = head_model(cfg.head, str(device))
    background = torch.tensor(background_rgb(cfg.eval.background), device=device)
    views = fit_views(subject, setting)
    target = make_target(views, head, background, device)
    faces = head.faces
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    w_prior = cfg.fit.w_prior if spec.prior_reg else 0.0
    photometric = losses.Photometric(cfg.fit, cfg.metrics)

    if spec.from_prior:
        prior = copy.deepcopy(prior).to(device).requires_grad_(False)
        binding, region_names = prior.binding, prior.region_names
        z = prior.mean_latent().to(device).clone()
        with torch.no_grad():
            ref = prior.decode(z.unsqueeze(0))[0]  # stage 1 pulls toward the prior's mean avatar
    else:
        b = uv_binding(head, cfg.avatar.uv_resolution)
        binding = type(b)(**{k: getattr(b, k).to(device) for k in ("face_ids", "barys", "regions", "uv")})
        region_names, ref = list(head.regions), None
    mlp = OffsetMLP(target.cond.shape[1]).to(device) if spec.offset_mlp else None

    faces_c, binding_c = compact_binding(faces, binding)

    tracking = TrackingRefinement(torch.as_tensor(views.global_rt, dtype=torch.float32, device=device),
                                  head.shapedirs) if refine_tracking else None

    def posed(idx):
        return target.verts[idx] if tracking is None else tracking.apply(target.verts[idx], idx)

    def render(attrs, idx):
        return splat_frames(attrs, posed(idx), faces_c, binding_c, cfg.avatar, target.K[idx], target.w2c[idx],
                            target.width, target.height, background)

    loss_idx = torch.as_tensor(np.unique(np.linspace(0, len(target) - 1, LOSS_VIEWS).round().astype(int)))

    def photo_on_loss_views(stage: _Stage) -> float:
        with torch.no_grad():
            return photometric(*render(stage.frames(stage.base(), loss_idx), loss_idx), target.rgb[loss_idx],
                               target.alpha[loss_idx]).item()

    reports, log, snapshots = [], [], {}
    photo_now = None  # photometric loss of the current attributes on the loss views (unchanged between stages)
    for name in spec.stages:
        if name == "invert":
            z.requires_grad_(True)
            stage, steps = _prior_stage(prior, z, [z], cfg.fit.lr_latent), cfg.fit.stage1_steps
        elif name == "decoder":
            z.requires_grad_(False)
            decoder = [p for m in (prior.first_f, prior.first_z, *prior.hidden, prior.out) for p in m.parameters()]
            for p in decoder:
                p.requires_grad_(True)
            stage, steps = _prior_stage(prior, z, decoder, cfg.fit.lr_decoder), cfg.fit.stage2_steps
        else:
            with torch.no_grad():  # bake: from here on no network but the optional offset MLP
                attrs = (prior.decode(z.unsqueeze(0))[0] if spec.from_prior
                         else template_attributes(binding, cfg.avatar).to(device)).clone()
            with torch.no_grad():
                verts = posed(torch.arange(len(target), device=target.verts.device))
            seen = gaussian_visibility(attrs, verts, target, faces_c, binding_c, cfg.avatar) > SEEN_WEIGHT
            attrs.requires_grad_(True)
            stage = _refine_stage(attrs, mlp, binding.uv, target.cond, seen, cfg)
            steps = cfg.fit.stage3_steps if spec.from_prior else cfg.fit.direct_steps
        if photo_now is None:
            photo_now = photo_on_loss_views(stage)
        with torch.no_grad():
            loss_before = photo_now + prior_loss(stage.base(), ref, w_prior).item()
        t0 = time.perf_counter()
        bar = tqdm(total=steps, desc=f"fit {name}", unit="step", disable=not progress, leave=False, mininterval=0.5)
        for it in range(steps):
            bar.update(1)
            idx = torch.randperm(len(target), generator=gen)[:cfg.fit.batch_size]
            base = stage.base()
            photo = photometric(*render(stage.frames(base, idx), idx), target.rgb[idx], target.alpha[idx])
            reg = prior_loss(base, ref, w_prior)
            stage.step(photo, reg, idx)
            if tracking is not None:
                tracking.step(idx)
            log.append({"stage": name, "step": it, "loss": photo.item() + reg.item(), "photo": photo.item(),
                        "prior": reg.item(), "seconds": round(time.perf_counter() - t0, 4)})
        bar.close()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            snapshots[name] = stage.base().detach().clone()
            photo_now = photo_on_loss_views(stage)
            loss_after = photo_now + prior_loss(snapshots[name], ref, w_prior).item()
        reports.append(StageReport(name, steps, seconds, loss_before, loss_after))
        echo(f"stage {name}: {steps} steps in {seconds:.1f} s ({steps / max(seconds, 1e-9):.2f} it/s), "
             f"loss {loss_before:.4f} -> {loss_after:.4f}")
        if name == "invert":
            ref = snapshots[name]  # L_prior of the later stages: L2 to the stage-1 attributes
    shape = torch.as_tensor(views.shape, dtype=torch.float32, device=device)
    if tracking is not None:
        shape = shape + tracking.dshape.detach()
    avatar = Avatar(attrs.detach(), binding, shape,
                    cfg.head, cfg.avatar, list(region_names), mlp, {})
    return FitResult(avatar, reports, log, snapshots, time.perf_counter() - t_start,
                     LPIPS_NOTES[photometric.lpips_state], None if tracking is None else tracking.refined())
