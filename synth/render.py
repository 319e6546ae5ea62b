"""Render processes (import bpy): one subject of the dataset, or fixed preview views of one subject.

`render_subject` is what `gasp synth render` runs: initialise BlenderProc once, build the subject's
scene, render all its views in one Cycles call, write them through gasp.data (DONE last). The caller
ends the process with synth.blender.finish (bpy can crash at interpreter exit).
"""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gasp import data
from gasp.camera import DATASET_LOOK_TARGET, intrinsics, look_at_c2w, orbit_eye
from gasp.config import Config
from gasp.io import atomic_write_bytes, atomic_write_json
from synth import scene
from synth.assets import build_assets
from synth.blender import init_blenderproc
from synth.domain import degrade
from synth.samplers import SubjectSample, sample_expressions, sample_subject


def _head(cfg: Config):
    from gasp.model.head import build_head_model

    return build_head_model(cfg.head)


def render_subject(cfg: Config, domain: str, index: int, out_dir: str | Path, threads: int = 0) -> dict:
    """Render subject `index` of `domain` into out_dir (resumable: a folder with DONE is left alone).

    Returns timings in seconds: assets (of which head_model), blender_init, scene, render, write.
    """
    out = Path(out_dir)
    if data.is_done(out):
        return {"skipped": True}
    for sub in ("images", "masks"):  # a half-rendered earlier attempt may hold stale views
        shutil.rmtree(out / sub, ignore_errors=True)
    t0 = time.perf_counter()
    model = _head(cfg)
    t_head = time.perf_counter()
    s = cfg.synth
    sample = sample_subject(s, model.n_shape, model.n_expr, domain, index)
    assets = build_assets(model, sample, s.texture_resolution)
    t_assets = time.perf_counter()
    bproc = init_blenderproc(threads=threads or cfg.synth.render_threads)
    t_init = time.perf_counter()
    scene.configure_renderer(bproc, s.resolution, s.resolution, s.samples)
    K = sample.views[0].K
    scene.build_scene(bproc, assets, sample.light, np.stack([np.linalg.inv(v.w2c) for v in sample.views]), K,
                      s.resolution, s.resolution, tag=sample.subject)
    scene.enable_masks(bproc)
    K_bl, w2c_bl = scene.camera_readback(bproc, len(sample.views))
    _check_cameras(sample, K_bl, w2c_bl)
    t_scene = time.perf_counter()
    rgba, seg = scene.render(bproc)
    t_render = time.perf_counter()
    _write_views(out, rgba, seg, sample.sensor if domain == "eval" else None)
    views = [data.View(v.id, K_bl, w2c, v.group, v.split) for v, w2c in zip(sample.views, w2c_bl)]
    data.write_cameras(out, s.resolution, s.resolution, views)
    data.write_params(out, sample.shape, sample.expr, sample.jaw, sample.neck, sample.global_rt)
    data.write_subject_meta(out, _meta(cfg, sample))
    data.mark_done(out)
    t_end = time.perf_counter()
    return {"assets": t_assets - t0, "head_model": t_head - t0, "blender_init": t_init - t_assets, "scene": t_scene - t_init,
            "render": t_render - t_scene, "write": t_end - t_render, "views": len(views)}


def _write_views(out: Path, rgba: list[np.ndarray], seg: list[np.ndarray], sensor: dict | None) -> None:
    """images/ and masks/ of every view, the eval domain's sensor effects applied when `sensor` is given.

    Views go through a few threads: PNG/JPEG coding and fsync release the GIL, and written one by one
    they took a tenth of a 128 px subject's render time (benchmarks/synth.py).
    """
    def one(i: int) -> None:
        img = rgba[i] if sensor is None else degrade(rgba[i], sensor, i)
        data.write_view(out, i, img, seg[i])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(len(rgba))))  # list(): re-raises the first error


def _check_cameras(sample: SubjectSample, K: np.ndarray, w2c: np.ndarray) -> None:
    """Blender's camera must reproduce the sampled cameras: the conversion is exact or we stop."""
    want = np.stack([v.w2c for v in sample.views])
    if not (np.allclose(K, sample.views[0].K, atol=1e-3) and np.allclose(w2c, want, atol=1e-5)):
        raise RuntimeError(f"{sample.subject}: Blender camera differs from the sampled camera "
                           f"(K err {np.abs(K - sample.views[0].K).max():.2e}, w2c err {np.abs(w2c - want).max():.2e})")


def _meta(cfg: Config, sample: SubjectSample) -> dict:
    return {"subject": sample.subject, "seed": sample.seed, "domain": sample.domain,
            "appearance": sample.appearance, "hair": sample.hair, "light": sample.light, "sensor": sample.sensor,
            "head": {"identity_components": cfg.head.identity_components,
                     "expression_components": cfg.head.expression_components,
                     "mesh_detail": cfg.head.mesh_detail, "model_file": cfg.head.model_file}}


def render_preview(cfg: Config, domain: str, index: int, yaws: list[float], pitch: float, resolution: int,
                   out_dir: str | Path, light: dict | None = None, distance: float | None = None,
                   threads: int = 0) -> dict:
    """Fixed views of one subject (facecheck, contact sheet); one process per subject, like the dataset
    (a second subject in the same Blender session showed parts of the first).

    The subject gets len(yaws) mild random expressions (its own seed), neutral head pose, and either
    its domain's lighting (light=None, eval subjects also get their sensor effects) or the given light.
    Writes out_dir/<subject>_<k>.png and out_dir/<subject>.json (appearance, hair, image names).
    """
    out = Path(out_dir)
    model = _head(cfg)
    s = cfg.synth
    sample = sample_subject(s, model.n_shape, model.n_expr, domain, index)
    n = len(yaws)
    expr, jaw, neck = sample_expressions(np.random.default_rng(sample.seed), n, model.n_expr, 0.3)
    sample.expr, sample.jaw, sample.neck, sample.global_rt = expr, jaw * 0.5, neck * 0.3, np.zeros((n, 6))
    sample.views = sample.views[:n]
    assets = build_assets(model, sample, s.texture_resolution)
    bproc = init_blenderproc(threads=threads or cfg.synth.render_threads)
    scene.configure_renderer(bproc, resolution, resolution, s.samples)
    K = intrinsics(s.focal_mm, resolution, resolution)
    target = DATASET_LOOK_TARGET
    c2w = np.stack([look_at_c2w(orbit_eye(y, pitch, distance or s.camera_distance, target), target)
                    for y in yaws])
    scene.build_scene(bproc, assets, light or sample.light, c2w, K, resolution, resolution, tag=sample.subject)
    rgba, _ = scene.render(bproc)
    names = []
    for k, img in enumerate(rgba):
        if domain == "eval" and light is None:
            img = degrade(img, sample.sensor, k)
        names.append(f"{sample.subject}_{k}.png")
        atomic_write_bytes(out / names[-1], data.encode_png(img))
    record = {"subject": sample.subject, "domain": domain, "appearance": sample.appearance, "hair": sample.hair,
              "images": names, "yaws": list(yaws)}
    atomic_write_json(out / f"{sample.subject}.json", record)
    return record
