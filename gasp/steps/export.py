"""What others consume from a fitted avatar: a standard 3DGS .ply, turntable and animation videos,
and the methods figure (input frame, then each method from the front, the side and the back).

The .ply follows the original 3D Gaussian Splatting layout that splat viewers read:
x y z nx ny nz f_dc_0..2 f_rest_* opacity scale_0..2 rot_0..3 (float32; opacity as a logit, scales
as logs, rot a wxyz quaternion, f_rest channel-major as 3DGS writes it; no f_rest at SH degree 0).
The Gaussians are posed once (neutral by default, or the given expression/jaw) in the head frame.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement

from gasp.camera import orbit_cameras
from gasp.io import atomic_path
from gasp.model.fitted_avatar import Avatar, Motion

VIDEO_SUFFIXES = (".mp4", ".gif")


def ply_property_names(sh_degree: int) -> list[str]:
    n_rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(n_rest)]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


@torch.no_grad()
def posed_gaussians(avatar: Avatar, motion: Motion) -> dict[str, np.ndarray]:
    """World-space Gaussians of frame 0 of `motion`: means (N,3), quats (N,4) wxyz, scales (N,3),
    opacities (N,), sh (N,K,3)."""
    means, quats, scales, opacities, colors = avatar.gaussians(motion.take([0]))
    return {k: v[0].detach().cpu().numpy().astype(np.float32)
            for k, v in (("means", means), ("quats", quats), ("scales", scales), ("opacities", opacities),
                         ("sh", colors))}


def export_ply(avatar: Avatar, path: str | Path, motion: Motion | None = None) -> int:
    """Write the posed avatar as a 3DGS .ply (atomically); returns the file size in bytes."""
    motion = motion or Motion.neutral(1, avatar.head.n_expr)
    g = posed_gaussians(avatar, motion)
    n, k = g["sh"].shape[:2]
    names = ply_property_names(avatar.avatar_cfg.sh_degree)
    rest = g["sh"][:, 1:, :].transpose(0, 2, 1).reshape(n, -1)  # 3DGS: channel-major f_rest
    eps = 1e-7  # opacity exactly 0 or 1 has no finite logit
    op = np.clip(g["opacities"], eps, 1 - eps)
    cols = np.concatenate([g["means"], np.zeros((n, 3), np.float32), g["sh"][:, 0, :], rest,
                           np.log(op / (1 - op))[:, None], np.log(g["scales"]), g["quats"]], axis=1)
    if cols.shape[1] != len(names):
        raise ValueError(f"avatar has SH K={k}, its config sh_degree={avatar.avatar_cfg.sh_degree}")
    vertex = np.empty(n, dtype=[(nm, "f4") for nm in names])
    for i, nm in enumerate(names):
        vertex[nm] = cols[:, i]
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertex, "vertex")]).write(str(tmp))
    return Path(path).stat().st_size


def read_ply(path: str | Path) -> dict[str, np.ndarray]:
    """The vertex properties of a .ply as {name: (N,) array}."""
    v = PlyData.read(str(path))["vertex"]
    return {p.name: np.asarray(v[p.name]) for p in v.properties}


# ------------------------------------------------------------------------------------------------
# Videos


def render_timed(avatar: Avatar, motion: Motion, K, w2c, width, height, background) -> tuple[np.ndarray, float]:
    """uint8 frames (T,H,W,3) and the rendering frames/s (posing + splatting, no file I/O)."""
    t0 = time.perf_counter()
    rgb, _ = avatar.render(motion, K, w2c, width, height, background)
    fps = len(motion) / max(time.perf_counter() - t0, 1e-9)
    return (rgb.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8), fps


def write_video(path: str | Path, frames: np.ndarray, fps: float = 24.0) -> None:
    """frames (T,H,W,3) uint8 -> .mp4 (H.264 via imageio-ffmpeg) or .gif, atomically."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"{path}: video output must end in {' or '.join(VIDEO_SUFFIXES)}")
    with atomic_path(path) as tmp:
        if path.suffix == ".gif":
            imageio.mimwrite(tmp, list(frames), duration=1000 / fps, loop=0)
        else:
            imageio.mimwrite(tmp, list(frames), fps=fps, macro_block_size=1)


def turntable(avatar: Avatar, out: str | Path, frames: int, distance: float, focal_mm: float, size: int,
              pitch_deg: float = 5.0, background=(1.0, 1.0, 1.0), expressions: Motion | None = None) -> float:
    """360-degree turntable -> video file; returns the rendering frames/s. The avatar is neutral, or
    cycles through the expressions and jaw poses of `expressions` (e.g. its capture's), head unposed."""
    K, w2c = orbit_cameras(np.linspace(0, 360, frames, endpoint=False), pitch_deg, distance, focal_mm, size, size)
    motion = Motion.neutral(frames, avatar.head.n_expr)
    if expressions is not None and len(expressions):
        src = expressions.take(np.arange(frames) % len(expressions))
        motion.expr[:], motion.jaw[:] = src.expr, src.jaw
    video, fps = render_timed(avatar, motion, K, w2c, size, size, background)
    write_video(out, video)
    return fps


def animate(avatar: Avatar, motion: Motion, out: str | Path, distance: float, focal_mm: float, size: int,
            background=(1.0, 1.0, 1.0), video_fps: float = 24.0) -> float:
    """Drive the avatar with `motion` (expression, jaw, neck, global pose per frame) seen by a fixed front
    camera -> video file; returns the rendering frames/s. The head moves about its mean position (a
    capture's translations are relative to its own camera)."""
    K, w2c = orbit_cameras(np.zeros(len(motion)), 0.0, distance, focal_mm, size, size)
    video, fps = render_timed(avatar, motion.centred(), K, w2c, size, size, background)
    write_video(out, video, video_fps)
    return fps


# ------------------------------------------------------------------------------------------------
# Figure


FIGURE_VIEWS = {"front": 0.0, "side": 90.0, "back": 180.0}


def methods_figure(input_rgb: np.ndarray, avatars: dict[str, Avatar], out: str | Path, distance: float,
                   focal_mm: float, size: int, background=(1.0, 1.0, 1.0), title: str = "") -> None:
    """PNG: the input frame (H,W,3 in 0..1), then one row per method rendered front / side / back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K, w2c = orbit_cameras(list(FIGURE_VIEWS.values()), 5.0, distance, focal_mm, size, size)
    rows = len(avatars)
    fig, axes = plt.subplots(rows, 4, figsize=(8, 2 * rows + 0.4), squeeze=False)
    for r, (name, avatar) in enumerate(avatars.items()):
        rgb, _ = avatar.render(Motion.neutral(len(K), avatar.head.n_expr), K, w2c, size, size, background)
        panels = [input_rgb if r == 0 else None] + list(rgb.clamp(0, 1).cpu().numpy())
        for c, img in enumerate(panels):
            ax = axes[r, c]
            ax.axis("off")
            if img is not None:
                ax.imshow(img)
            if r == 0:
                ax.set_title(["input", *FIGURE_VIEWS][c], fontsize=9)
        axes[r, 1].text(-0.08, 0.5, name, transform=axes[r, 1].transAxes, rotation=90, va="center", ha="right",
                        fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
