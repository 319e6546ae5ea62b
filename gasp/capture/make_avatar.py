"""`gasp avatar`: a photo or video in, a fitted, animatable 360-degree avatar out.

    capture (capture.py) -> DIR/capture/            the subject folder (frames, alpha, cameras, tracked params)
    fit (gasp/steps/fit.py)    -> DIR/avatar.npz          three stages through the prior: `single` for one image,
                                                    `monocular` for a video
    exports              -> DIR/avatar.ply          standard 3DGS, neutral pose
                            DIR/turntable.mp4       360 degrees, cycling through the capture's expressions
                            DIR/preview.png         input | front | three-quarter | profile | back
                            DIR/summary.json        seconds per step, PSNR on the input (and held-out) frames
                            DIR/fit_log.csv

The avatar has as many Gaussians as the prior (its UV resolution): at the default UV 128 about 11k,
on average one per 3 mm of head surface, so pores, stubble, lashes and single hair strands are beyond it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gasp import targets
from gasp.capture.media import CaptureError
from gasp.config import Config

PREVIEW_VIEWS = {"front": 0.0, "three-quarter": 45.0, "profile": 90.0, "back": 180.0}
DEFAULT_PRIOR = Path(targets.prior_checkpoint(targets.prior_of("gasp")))  # the pipeline trains it (make run)


def resolve_prior(prior: str | Path | None) -> Path:
    """The prior checkpoint to fit through, or a CaptureError that says how to make one."""
    path = Path(prior) if prior else DEFAULT_PRIOR
    if not path.is_file():
        if prior:
            raise CaptureError(f"{path}: prior checkpoint not found")
        raise CaptureError(f"{path}: no trained prior here. Train the default one with `make run` (about 35-55 min "
                           f"on 2 CPU cores; it writes {DEFAULT_PRIOR}), or give --prior PATH")
    return path


def psnr_on_views(avatar, views, background) -> float | None:
    """Mean PSNR (dB) of the avatar against a selection of its subject's views, composited on the background."""
    import torch

    from gasp.metrics.images import composite_rgba
    from gasp.metrics.psnr import psnr
    from gasp.model.fitted_avatar import Motion

    if len(views) == 0:
        return None
    rgb, _ = avatar.render(Motion.from_subject(views), views.K, views.w2c, views.width, views.height, background)
    gt = composite_rgba(torch.from_numpy(views.images), background)
    return float(psnr(rgb.clamp(0, 1).permute(0, 3, 1, 2).cpu(), gt.permute(0, 3, 1, 2)).mean())


def _refined_subject(subject, setting: str, res):
    """The subject with the fit's refined identity and head poses (held-out video frames take their
    fitted neighbours' corrections: tracking.carry_refinement)."""
    import dataclasses

    from gasp.capture.tracking import carry_refinement
    from gasp.methods import SETTINGS

    rt = carry_refinement(subject.global_rt, subject.indices(*SETTINGS[setting].fit_views), res.global_rt)
    return dataclasses.replace(subject, shape=res.avatar.shape.cpu().numpy().astype(np.float32), global_rt=rt)


def _store_tracking(tracked, final) -> dict:
    """Write `final`'s identity and head poses into the capture's params.npz; returns how far they
    moved from `tracked` (pose degrees: median, max; identity: coefficient-vector norm)."""
    from scipy.spatial.transform import Rotation

    from gasp.data import write_params

    moved = np.degrees((Rotation.from_rotvec(final.global_rt[:, :3])
                        * Rotation.from_rotvec(tracked.global_rt[:, :3]).inv()).magnitude())
    write_params(final.dir, final.shape, final.expr, final.jaw, final.neck, final.global_rt)
    return {"pose_deg_median": float(np.median(moved)), "pose_deg_max": float(moved.max()),
            "identity_change": float(np.linalg.norm(final.shape - tracked.shape))}


def preview(avatar, input_rgb: np.ndarray, expression, out: Path, cfg: Config, background) -> None:
    """PNG: the input crop, then the avatar (with the capture's expression) from the front, at
    three-quarter, in profile and from the back."""
    from PIL import Image

    from gasp.camera import orbit_cameras
    from gasp.io import atomic_path
    from gasp.model.fitted_avatar import Motion

    size = input_rgb.shape[0]
    K, w2c = orbit_cameras(list(PREVIEW_VIEWS.values()), 5.0, cfg.synth.camera_distance, cfg.synth.focal_mm, size, size)
    motion = Motion.neutral(len(K), avatar.head.n_expr)
    motion.expr[:], motion.jaw[:] = expression.expr[0], expression.jaw[0]
    rgb, _ = avatar.render(motion, K, w2c, size, size, background)
    panels = [input_rgb] + list(rgb.clamp(0, 1).cpu().numpy())
    strip = np.concatenate(panels, axis=1)
    with atomic_path(out) as tmp:
        Image.fromarray((strip * 255 + 0.5).clip(0, 255).astype(np.uint8)).save(tmp, format="PNG")


def make_avatar(input_path: str | Path, out_dir: str | Path, cfg: Config, prior: str | Path | None = None,
                face: int | None = None, focal_35mm: float | None = None, max_frames: int = 48,
                overwrite: bool = False, progress: bool = True, device: str = "cpu", echo=print) -> dict:
    """Capture, fit and export (module docstring); returns the summary written to DIR/summary.json."""
    import dataclasses

    import torch

    from gasp.capture.capture import capture
    from gasp.data import load_subject
    from gasp.io import atomic_write_json, atomic_write_text
    from gasp.metrics.images import background_rgb, composite_rgba
    from gasp.model.fitted_avatar import Motion
    from gasp.model.prior import GaspPrior
    from gasp.steps.export import export_ply, turntable
    from gasp.steps.fit import align_poses, fit, log_csv

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    prior_path = resolve_prior(prior)  # before any work: a missing prior is the commonest first-run mistake
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise CaptureError(f"{out_dir}: exists and is not empty (give --overwrite to replace its files)")
    steps = {}
    t0 = time.perf_counter()
    cap = capture(input_path, out_dir / "capture", cfg, face=face, focal_35mm=focal_35mm, max_frames=max_frames,
                  overwrite=overwrite, progress=progress)
    steps["capture_s"] = time.perf_counter() - t0
    s = cap.summary
    echo(f"capture: {s['frames_used']} of {s['frames_read']} frame(s) with a face, landmark error "
         f"{s['landmark_reproj_px']['mean']:.2f} px at {cfg.synth.resolution} px, focal {s['focal_px']:.0f} px "
         f"({s['focal_source']})")
    for note in s["notes"]:
        echo(f"capture: {note}")
    if s["frames_skipped"]:
        echo(f"capture: {len(s['frames_skipped'])} frame(s) skipped (see summary.json)")

    t0 = time.perf_counter()
    subject = load_subject(cap.subject_dir)
    setting = "monocular" if (subject.groups == "video").any() else "single"
    gasp_prior, _ = GaspPrior.load(prior_path)
    steps["load_prior_s"] = time.perf_counter() - t0
    # a video's tracked poses and identity are refined with the avatar; a single photo's are not: one
    # view cannot tell a pose or skull change from a texture change (measured: dlib's identity distance
    # on the astronaut 0.56 -> 0.70 with refined poses, no face found with a refined identity)
    video = setting == "monocular"
    res = fit(subject, setting, "gasp", cfg, gasp_prior, device=device, echo=echo, progress=progress,
              refine_tracking=video)
    steps.update({f"fit_{r.name}_s": r.seconds for r in res.stages})
    avatar = res.avatar
    avatar.meta = {"method": "gasp", "setting": setting, "subject": subject.id, "source": str(input_path),
                   "prior": str(prior_path)}
    bg = background_rgb(cfg.eval.background)
    refinement, psnr_test_tracked = None, None
    if video:
        # every frame's pose aligned to the finished avatar: the held-out frames were never refined, and
        # the fit's few steps per frame leave the others a little off (docs/capture.md)
        t0 = time.perf_counter()
        refined = _refined_subject(subject, setting, res)
        psnr_test_tracked = psnr_on_views(avatar, refined.select(split="test"), bg)
        final = dataclasses.replace(refined, global_rt=align_poses(avatar, refined, cfg, device=device,
                                                                    progress=progress))
        refinement = _store_tracking(subject, final)
        subject = final
        steps["align_poses_s"] = time.perf_counter() - t0
        echo(f"fit: head poses refined by {refinement['pose_deg_median']:.1f} degrees (median; max "
             f"{refinement['pose_deg_max']:.1f}), identity by {refinement['identity_change']:.2f} (coefficient norm)")

    t0 = time.perf_counter()
    views = subject.select("video" if setting == "monocular" else "single")
    train, test = views.select(split="train"), views.select(split="test")
    psnr_train, psnr_test = psnr_on_views(avatar, train, bg), psnr_on_views(avatar, test, bg)
    steps["evaluate_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    avatar_bytes = avatar.save(out_dir / "avatar.npz")
    ply_bytes = export_ply(avatar, out_dir / "avatar.ply")
    expressions = Motion.of_subject(subject)
    fps = turntable(avatar, out_dir / "turntable.mp4", cfg.report.turntable_frames, cfg.synth.camera_distance,
                    cfg.synth.focal_mm, cfg.synth.resolution, background=bg, expressions=expressions)
    input_rgb = composite_rgba(views.images[0], bg)
    preview(avatar, input_rgb, expressions.take([0]), out_dir / "preview.png", cfg, bg)
    atomic_write_text(out_dir / "fit_log.csv", log_csv(res.log))
    steps["export_s"] = time.perf_counter() - t0

    summary = {
        "input": str(input_path), "setting": setting, "prior": str(prior_path),
        "capture": {k: s[k] for k in ("kind", "frames_read", "frames_used", "frames_skipped", "notes",
                                      "faces_in_first_frame", "focal_px", "focal_source", "landmark_reproj_px")},
        "psnr_input_frames_db": psnr_train, "psnr_heldout_frames_db": psnr_test,
        # held-out frames at their tracked poses (with their fitted neighbours' refinement), before the
        # alignment: the tracker's pose error and the avatar's together
        "psnr_heldout_frames_tracked_poses_db": psnr_test_tracked,
        "tracking_refinement": refinement,
        "n_gaussians": avatar.n_gaussians, "uv_resolution": cfg.avatar.uv_resolution,
        "detail": (f"{avatar.n_gaussians} Gaussians (the prior's UV {cfg.avatar.uv_resolution} map): about one per "
                   f"{1000 * np.sqrt(0.12 / max(avatar.n_gaussians, 1)):.1f} mm of head surface; finer detail (pores, "
                   f"stubble, lashes, hair strands) needs a prior trained at a higher UV resolution"),
        "avatar_bytes": avatar_bytes, "ply_bytes": ply_bytes, "turntable_render_fps": fps,
        "device": device, "threads": torch.get_num_threads(),
        "seconds": {**{k: round(v, 2) for k, v in steps.items()}, "total_s": round(time.perf_counter() - t_start, 2)},
        "files": ["capture/", "avatar.npz", "avatar.ply", "turntable.mp4", "preview.png", "fit_log.csv",
                  "summary.json"],
        # a photo's tracked pose can be pitched 20+ degrees off (README, "Your own avatar"): show
        # a photo's avatar with the built-in expressions, a video's with its own motion
        "view": f"gasp view {out_dir / 'avatar.npz'}" + (f" --motion {out_dir / 'capture'}" if setting == "monocular"
                                                        else ""),
    }
    atomic_write_json(out_dir / "summary.json", summary)
    return summary
