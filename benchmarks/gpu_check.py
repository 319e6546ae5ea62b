"""GPU check: the paper-scale CUDA path (gsplat rendering, prior training, fitting) in one prepared run.

    python benchmarks/gpu_check.py --out FILE.json [--budget-s 420] [--smoke] [--commit SHA]

Exit status 1 when a part failed (the JSON says which and why), 2 without a CUDA device (use --smoke).

Parts, in this order, each timed and written to FILE.json (atomically) as soon as it ends; a part
that fails records its error and the run goes on; a part that would start with less budget left
than it needs records "skipped: budget"; a part in progress reads "running" (a killed run shows
where it stopped):
  setup         machine, versions, code version; gsplat's CUDA kernels built (JIT, into
                .torch_extensions/) and run once
  parity        gasp.model.render on CUDA (gsplat) against its CPU backend on the same posed-avatar scene:
                images, alphas and the gradients of means, quats, scales, opacities and colours, at
                ~20k Gaussians / 128 px and ~180k / 512 px (tolerances in the JSON);
                FILE_parity.png shows CPU | CUDA | 10 x |difference| of the larger scene
  render_speed  an avatar at UV 512 (~180k Gaussians) rendered at 512 px for 200 frames: frames/s
                with the per-frame pose step (head model + binding) and without it; peak memory;
                FILE_frame.png is the last posed frame (paper: 70 fps on an RTX 4090)
  data          synthetic subjects rendered with the real renderer at the preset's sizes
                (benchmarks/synthetic_subjects.py): 4 prior subjects x 12 views and one
                120-frame video subject at 512 px; nothing is downloaded
  train_prior   the paper preset (batch 8, 512 px, UV 512, latent 512): steps/s over 50 steps after
                2 warm-up steps, peak memory
  fit           the paper preset's 500/500/100 steps on the video subject at 512 px, starting from
                the prior just trained: seconds per stage (paper: ~10 min in all on an RTX 4090),
                avatar file size in float16 and float32 (paper: ~15 MB)
  train_prior_ddp  with more than one visible GPU, `gasp train-prior --nproc K` (DDP under torchrun)
                on all of them for 52 steps; with one: "1 GPU: DDP not exercised"

--smoke runs every part on the CPU at tiny sizes (the ci preset, smaller still). Its parity part
compares the CPU backend with the float64 oracle of tests/render_oracle.py and records that it did:
a smoke run proves no CUDA parity. tests/test_gpu_check.py runs it in CI so that the script cannot
rot (about 40 s of CPU time on 2 cores, half of it the 2-process DDP run).

On a GPU machine, from the repository root (one command; the set-up is inside the script):

    .venv/bin/python benchmarks/gpu_check.py --out $OUT/gpu_check.json --commit <git sha>

Without the project's venv, any Python with CUDA torch, numpy, scipy, pyyaml, opencv, matplotlib,
tqdm, rich and jaxtyping runs it once the pure-Python wheels gsplat==1.5.3 and plyfile are installed
(`python3 benchmarks/gpu_check.py ...`). gsplat builds its CUDA kernels on first use (nvcc needed,
minutes on a fresh machine, cached in .torch_extensions/): that build counts against --budget-s, so
give the command a timeout about 3 minutes longer than the budget; parts that no longer fit are
skipped, and the JSON holds whatever finished. Commit the JSON (and its two PNGs) as
benchmarks/results/gpu_check_<machine>.json and quote it in the README.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # runs from a bare copy of the repo, no install needed
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".torch_extensions"))  # gsplat's JIT build stays here

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Sizes of each mode. GPU: the paper's (workflow/presets/paper.yaml) with a small dataset; smoke: tiny.
GPU = {
    "preset": "paper",
    "overrides": {"synth": {"prior_subjects": 4, "prior_views": 12},
                  "prior": {"few_subjects": 2, "steps": 52, "log_every": 10, "checkpoint_every": 1000},
                  "compute": {"device": "cuda"}},
    "parity": [(168, 128), (512, 512)],      # (UV resolution, pixels): ~19.5k and ~180k Gaussians
    "render": (512, 512, 200, 5),             # UV resolution, pixels, timed frames, warm-up frames
    "train_steps": (2, 50),                   # warm-up, timed
    "need_s": {"parity": 60, "render_speed": 30, "data": 30, "train_prior": 45, "fit": 90, "train_prior_ddp": 60},
}
SMOKE = {
    "preset": "ci",
    "overrides": {"synth": {"prior_subjects": 2, "prior_views": 4, "resolution": 32, "video_frames": 6},
                  "avatar": {"uv_resolution": 24},
                  "prior": {"few_subjects": 2, "steps": 4, "log_every": 2, "checkpoint_every": 1000},
                  "fit": {"stage1_steps": 3, "stage2_steps": 3, "stage3_steps": 2},
                  "compute": {"device": "cpu", "threads": 0}},
    "parity": [(12, 24), (16, 32)],           # the float64 oracle loops over Gaussians: keep N small
    "render": (24, 32, 4, 1),
    "train_steps": (1, 3),
    "need_s": {"parity": 1, "render_speed": 1, "data": 1, "train_prior": 1, "fit": 1, "train_prior_ddp": 1},
}
# CUDA (gsplat, float32) against the CPU backend (float32): summation order and the per-pixel cut-offs
# (alpha < 1/255 skipped, transmittance < 1e-4 stops) may differ at a few pixels, so images are held
# to a small mean and a max of a few 1/255 steps; gradients to a relative L2 error. For scale: the CPU
# backend in float32 against itself in float64 on the ~180k / 512 px scene differs by 1.3e-3 (image
# max), 1.1e-7 (image mean), 2.9e-3 (alpha max) and at most 1.6e-4 (gradients, relative L2).
TOLERANCE = {
    "cuda": {"image_max_abs": 1e-2, "image_mean_abs": 1e-5, "grad_rel_l2": 1e-3},
    "oracle": {"image_max_abs": 1e-5, "image_mean_abs": 1e-6, "grad_rel_l2": 1e-5},
}
GRAD_INPUTS = ("means", "quats", "scales", "opacities", "colors")


# ------------------------------------------------------------------------------------------------
# The run: parts, budget, JSON


class Run:
    """Times parts against the budget and rewrites the JSON report after each change."""

    def __init__(self, out: Path, budget_s: float, mode: dict, device: torch.device):
        self.out, self.budget_s, self.mode, self.device = out, budget_s, mode, device
        self.t0 = time.perf_counter()
        self.report = {"script": "benchmarks/gpu_check.py", "argv": sys.argv[1:], "budget_s": budget_s,
                       "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "mode": "smoke (CPU, tiny sizes)" if device.type == "cpu" else "gpu",
                       "preset": mode["preset"], "overrides": mode["overrides"], "parts": {}}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def write(self) -> None:
        from gasp.io import atomic_write_json

        self.report["wall_s"] = round(time.perf_counter() - self.t0, 2)
        atomic_write_json(self.out, self.report)

    def part(self, name: str, fn, *args, budgeted: bool = True):
        """Run fn(rec, *args) as part `name` (rec: the part's dict in the report, filled as it goes);
        returns fn's value, or None when it failed or was skipped."""
        need = self.mode["need_s"].get(name, 0) if budgeted else 0
        rec = self.report["parts"][name] = {"status": "running", "budget_left_s": round(self.left(), 1)}
        setup = self.report["parts"].get("setup", {}).get("status")
        if name != "setup" and setup != "ok":
            # without a working renderer every part would fail, on CUDA each after retrying gsplat's build
            rec["status"] = "skipped: setup failed"
            self.write()
            return None
        if budgeted and self.left() < need:
            rec.update(status="skipped: budget", needs_s=need)
            self.write()
            return None
        self.write()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        t = time.perf_counter()
        value = None
        try:
            value = fn(rec, *args)
            rec["status"] = "ok"
        except Exception as e:  # noqa: BLE001  (a failing part is a result; the run goes on)
            rec["status"] = "error"
            rec["error"] = f"{type(e).__name__}: {e}"[:2000]
            rec["traceback"] = traceback.format_exc().splitlines()[-25:]
        rec["seconds"] = round(time.perf_counter() - t, 3)
        rec.update(memory(self.device))
        self.write()
        print(f"gpu_check: {name}: {rec['status']} in {rec['seconds']:.1f} s"
              + (f" ({rec['error']})" if "error" in rec else ""), file=sys.stderr, flush=True)
        return value


def memory(device: torch.device) -> dict:
    """Peak resident memory of this process so far (MB); on CUDA also the part's peak allocation."""
    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # Linux: KiB
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_config(mode: dict):
    """The mode's preset with its overrides, validated as any config is (gasp/config.py)."""
    from gasp.config import build_config, load_config

    merged = load_config(preset=mode["preset"]).to_dict()
    for section, values in mode["overrides"].items():
        merged[section].update(values)
    return build_config(merged, default_source=f"benchmarks/gpu_check.py ({mode['preset']} + overrides)")


def machine(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=torch.cuda.get_device_name(device), gpu_count=torch.cuda.device_count(),
                    gpu_memory_gb=round(props.total_memory / 2**30, 1), gpu_capability=f"{props.major}.{props.minor}")
        info["nvidia_smi"] = command_line(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
    else:
        info.update(gpu=None, gpu_count=torch.cuda.device_count() if torch.cuda.is_available() else 0)
    return info


def cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def command_line(argv: list[str]) -> str | None:
    """The last non-empty output line of a command, or None when it cannot run."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [s for s in (r.stdout + r.stderr).splitlines() if s.strip()]
    return lines[-1].strip() if lines else None


# ------------------------------------------------------------------------------------------------
# Parts


def part_setup(rec: dict, cfg, device: torch.device) -> None:
    """Versions, and gsplat's kernels built and run once (the first CUDA render compiles them)."""
    from gasp.model.render import rasterize

    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", f"{major}.{minor}")  # build for this GPU only
        os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
        nvcc = shutil.which("nvcc") or str(Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "nvcc")
        rec["nvcc"] = command_line([nvcc, "--version"])
        rec.update({k: os.environ.get(k) for k in ("TORCH_CUDA_ARCH_LIST", "MAX_JOBS", "TORCH_EXTENSIONS_DIR")})
        rec["kernels_cached"] = (Path(os.environ["TORCH_EXTENSIONS_DIR"]) / "gsplat_cuda" / "gsplat_cuda.so").exists()
    import gsplat

    rec["gsplat"] = gsplat.__version__
    p, vm, K, _ = avatar_scene(cfg, 8, 16)
    f32 = lambda x: x.to(device, torch.float32)  # noqa: E731
    t = time.perf_counter()
    img, _, _ = rasterize(**{k: f32(v) for k, v in p.items()}, viewmats=f32(vm), Ks=f32(K), width=16, height=16)
    sync(device)
    rec["first_render_s"] = round(time.perf_counter() - t, 2)  # on CUDA: the kernel build (JIT) included
    rec["backend"] = "gsplat (CUDA)" if img.is_cuda else "gasp CPU backend"


def avatar_scene(cfg, uv_res: int, px: int, seed: int = 0):
    """A posed avatar's Gaussians on the CPU (float64), attributes perturbed so that every input has
    gradients worth comparing: dict of the five rasterize inputs (colours post-activation (N,3)),
    viewmats (1,4,4), Ks (1,3,3), a white background (1,3)."""
    from gasp.camera import orbit_camera
    from gasp.model.fitted_avatar import head_model
    from gasp.model.gaussians import (LOG_SCALE, OFFSET, OPACITY, QUAT, SH_C0, SH_DC, gaussians_from_attributes,
                             template_attributes)
    from gasp.model.head.uv import uv_binding

    head = head_model(cfg.head)
    binding = uv_binding(head, uv_res)
    a = template_attributes(binding, cfg.avatar).double()
    g = torch.Generator().manual_seed(seed)
    n = len(binding)
    a[:, OFFSET] += 0.05 * torch.randn(n, 3, generator=g, dtype=a.dtype)
    a[:, QUAT] += 0.3 * torch.randn(n, 4, generator=g, dtype=a.dtype)
    a[:, LOG_SCALE] += 0.3 * torch.randn(n, 3, generator=g, dtype=a.dtype)
    a[:, OPACITY] = 1.5 * torch.randn(n, generator=g, dtype=a.dtype)
    a[:, SH_DC] = 0.8 * torch.randn(n, 3, generator=g, dtype=a.dtype)
    rng = np.random.default_rng(seed)
    z = lambda k: torch.zeros(1, k, dtype=a.dtype)  # noqa: E731
    shape = torch.as_tensor(0.7 * rng.standard_normal((1, head.n_shape)))
    expr = torch.as_tensor(0.3 * rng.standard_normal((1, head.n_expr)))
    with torch.no_grad():
        verts = head.verts(shape.float(), expr.float(), z(3).float(), z(3).float(), z(6).float()).double()
        means, quats, scales, opac, sh = gaussians_from_attributes(a, verts, head.faces, binding, cfg.avatar.scale_mode)
    s = cfg.synth
    K, w2c = orbit_camera(25.0, 10.0, s.camera_distance, s.focal_mm, px, px)
    p = {"means": means[0], "quats": quats[0], "scales": scales[0], "opacities": opac[0],
         "colors": (sh[0, :, 0] * SH_C0 + 0.5).clamp_min(0.0)}
    return p, torch.as_tensor(w2c, dtype=a.dtype)[None], torch.as_tensor(K, dtype=a.dtype)[None], \
        torch.ones(1, 3, dtype=a.dtype)


def forward_backward(fn, p: dict, vm, K, bg, px: int, device, dtype, weights) -> dict:
    """Render with fn on `device` in `dtype`, backpropagate sum(w_c * colours) + sum(w_a * alphas);
    -> images, alphas and the gradients of the five inputs, on the CPU in float64, plus seconds."""
    q = {k: v.detach().to(device, dtype, copy=True).requires_grad_(True) for k, v in p.items()}
    sync(device)
    t = time.perf_counter()
    img, alpha = fn(**q, viewmats=vm.to(device, dtype), Ks=K.to(device, dtype), width=px, height=px,
                    backgrounds=bg.to(device, dtype))[:2]
    ((img * weights[0].to(device, dtype)).sum() + (alpha * weights[1].to(device, dtype)).sum()).backward()
    sync(device)
    out = {"image": img.detach(), "alpha": alpha.detach(), **{k: q[k].grad for k in GRAD_INPUTS}}
    out = {k: v.double().cpu() for k, v in out.items()}
    out["seconds"] = time.perf_counter() - t
    return out


def compare(ref: dict, test: dict, tol: dict) -> dict:
    res = {"image_max_abs": float((test["image"] - ref["image"]).abs().max()),
           "image_mean_abs": float((test["image"] - ref["image"]).abs().mean()),
           "alpha_max_abs": float((test["alpha"] - ref["alpha"]).abs().max()),
           "alpha_mean_abs": float((test["alpha"] - ref["alpha"]).abs().mean()),
           "grad_rel_l2": {k: float((test[k] - ref[k]).norm() / ref[k].norm().clamp_min(1e-30)) for k in GRAD_INPUTS},
           "grad_rel_max": {k: float((test[k] - ref[k]).abs().max() / ref[k].abs().max().clamp_min(1e-30))
                            for k in GRAD_INPUTS}}
    res["within_tolerance"] = bool(
        max(res["image_max_abs"], res["alpha_max_abs"]) <= tol["image_max_abs"]
        and max(res["image_mean_abs"], res["alpha_mean_abs"]) <= tol["image_mean_abs"]
        and all(v <= tol["grad_rel_l2"] for v in res["grad_rel_l2"].values()))
    return res


def part_parity(rec: dict, cfg, device: torch.device, scenes, png: Path) -> None:
    from gasp.model.render import rasterize

    cuda = device.type == "cuda"
    if cuda:
        kind, dtype = "cuda", torch.float32
        rec["reference"] = "gasp CPU backend, float32"
        rec["tested"] = "gsplat CUDA (rasterization, packed=False), float32"
        ref_fn = test_fn = rasterize  # the tensors' device picks the backend
    else:
        import importlib.util

        spec = importlib.util.spec_from_file_location("render_oracle", ROOT / "tests" / "render_oracle.py")
        oracle = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(oracle)
        kind, dtype = "oracle", torch.float64
        rec["reference"] = "tests/render_oracle.py (brute force), float64"
        rec["tested"] = "gasp CPU backend, float64"
        ref_fn, test_fn = oracle.oracle_rasterize, rasterize
    rec["cuda_parity"] = cuda  # a CPU run proves no CUDA parity
    rec["tolerance"] = TOLERANCE[kind]
    rec["loss"] = "sum(w * image) + sum(v * alpha), w, v uniform random per pixel (seeded)"
    rec["scenes"] = []
    for uv_res, px in scenes:
        p, vm, K, bg = avatar_scene(cfg, uv_res, px)
        g = torch.Generator().manual_seed(1)
        weights = (torch.rand(1, px, px, 3, generator=g, dtype=torch.float64),
                   torch.rand(1, px, px, 1, generator=g, dtype=torch.float64))
        ref = forward_backward(ref_fn, p, vm, K, bg, px, torch.device("cpu"), dtype, weights)
        test = forward_backward(test_fn, p, vm, K, bg, px, device, dtype, weights)
        row = {"gaussians": len(p["means"]), "uv_resolution": uv_res, "pixels": px,
               "covered": float((ref["alpha"] > 0.5).double().mean()),
               "reference_s": round(ref["seconds"], 3), "tested_s": round(test["seconds"], 3),
               **compare(ref, test, TOLERANCE[kind])}
        rec["scenes"].append(row)
        if not row["covered"] > 0.05:
            raise AssertionError(f"parity scene {uv_res}/{px}: the avatar covers {row['covered']:.1%} of the image")
    rec["within_tolerance"] = all(s["within_tolerance"] for s in rec["scenes"])
    write_png(png, np.concatenate([ref["image"][0], test["image"][0],
                                   (10 * (test["image"][0] - ref["image"][0]).abs()).clamp(0, 1)], 1))


def write_png(path: Path, rgb) -> None:
    """rgb (H,W,3) in 0..1 (tensor or array)."""
    import cv2

    from gasp.io import atomic_path

    arr = (np.clip(np.asarray(rgb, dtype=np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write the PNG")


def part_render_speed(rec: dict, cfg, device: torch.device, sizes, png: Path) -> None:
    """Frames/s of an avatar: posed per frame (head model -> mesh -> Gaussians bound to it -> render)
    and render only (the Gaussians of one pose, rasterized again each frame); no gradients."""
    import dataclasses

    from gasp.camera import orbit_camera
    from gasp.model.fitted_avatar import head_model
    from gasp.model.gaussians import gaussians_from_attributes
    from gasp.model.head.uv import uv_binding
    from gasp.model.render import rasterize
    from gasp.model.splat import compact_binding, splat_frames

    from synthetic_subjects import random_motion, subject_avatar

    uv_res, px, frames, warm = sizes
    cfg = dataclasses.replace(cfg, avatar=dataclasses.replace(cfg.avatar, uv_resolution=uv_res))
    avatar = subject_avatar(cfg, uv_binding(head_model(cfg.head), uv_res), seed=7).to(device)
    motion = random_motion(frames, avatar.head.n_expr, np.random.default_rng(7),
                           30.0 * np.sin(np.linspace(0, 2 * np.pi, frames)))
    s = cfg.synth
    K, w2c = (torch.as_tensor(m, device=device)[None] for m in orbit_camera(0.0, 0.0, s.camera_distance, s.focal_mm,
                                                                             px, px))
    bg = torch.ones(3, device=device)
    faces, binding = compact_binding(avatar.head.faces, avatar.binding)
    rec.update(gaussians=avatar.n_gaussians, pixels=px, frames=frames, warmup_frames=warm)

    def posed(t):
        verts = avatar.verts(motion.take([t]))
        return splat_frames(avatar.attrs, verts, faces, binding, cfg.avatar, K, w2c, px, px, bg)

    with torch.no_grad():
        for t in range(warm):
            posed(t)
        sync(device)
        t0 = time.perf_counter()
        for t in range(frames):
            rgb, alpha = posed(t)
        sync(device)
        posed_s = time.perf_counter() - t0
        g = [x[0] for x in gaussians_from_attributes(avatar.attrs, avatar.verts(motion.take([0])), faces, binding,
                                                       cfg.avatar.scale_mode)]
        for _ in range(warm):
            rasterize(*g, w2c, K, px, px, sh_degree=cfg.avatar.sh_degree, backgrounds=bg[None])
        sync(device)
        t0 = time.perf_counter()
        for _ in range(frames):
            rasterize(*g, w2c, K, px, px, sh_degree=cfg.avatar.sh_degree, backgrounds=bg[None])
        sync(device)
        render_s = time.perf_counter() - t0
    rec.update(fps_posed=round(frames / posed_s, 2), fps_render_only=round(frames / render_s, 2),
               ms_per_frame_posed=round(1e3 * posed_s / frames, 3),
               ms_per_frame_render_only=round(1e3 * render_s / frames, 3),
               covered=float((alpha > 0.5).float().mean()), paper_fps="70 (RTX 4090)")
    write_png(png, rgb[0].cpu())


def part_data(rec: dict, cfg, device: torch.device, work: Path) -> tuple[Path, Path]:
    from gasp.model.fitted_avatar import head_model
    from gasp.model.head.uv import uv_binding

    from synthetic_subjects import prior_domain, video_subject

    binding = uv_binding(head_model(cfg.head), cfg.avatar.uv_resolution)
    t = time.perf_counter()
    prior_dir = prior_domain(work, cfg, device, binding)
    rec["prior_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    eval_dir = video_subject(work, cfg, device, binding)
    rec["eval_s"] = round(time.perf_counter() - t, 2)
    s = cfg.synth
    rec.update(generator="benchmarks/synthetic_subjects.py (gasp.model.render)", gaussians=len(binding),
               prior_subjects=s.prior_subjects, prior_views=s.prior_views, video_frames=s.video_frames,
               resolution=s.resolution,
               megabytes=round(sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) / 1e6, 2))
    return prior_dir, eval_dir


def part_train(rec: dict, cfg, device: torch.device, prior_dir: Path, steps: tuple[int, int]):
    """Steps/s of prior training in this process (gasp/steps/train_prior/step.py); returns the model."""
    from gasp.model.head import build_head_model
    from gasp.steps.train_prior.batches import BatchOrder
    from gasp.steps.train_prior.data import load_prior_data
    from gasp.steps.train_prior.loop import build_model
    from gasp.steps.train_prior.schedule import make_optimizer
    from gasp.steps.train_prior.step import Objective, Renderer, train_step

    warm, timed = steps
    torch.manual_seed(cfg.synth.seed)
    head = build_head_model(cfg.head).to(device)
    data = load_prior_data(prior_dir, "all", cfg, device)
    model = build_model(cfg, head, len(data.subjects)).to(device)
    optim = make_optimizer(cfg, model)
    renderer, objective = Renderer(head, data, cfg, device), Objective(cfg, model, device)
    order = BatchOrder(len(data.train_pairs), cfg.prior.batch_size, cfg.synth.seed)
    p = cfg.prior
    rec.update(gaussians=model.n_gaussians, resolution=data.width, batch_size=p.batch_size, latent_dim=p.latent_dim,
               hidden_dim=p.hidden_dim, hidden_layers=p.hidden_layers, subjects=len(data.subjects),
               warmup_steps=warm, steps=timed, lpips=objective.lpips_note)
    losses = []
    for step in range(warm + timed):
        if step == warm:
            sync(device)
            t0 = time.perf_counter()
        terms = train_step(model, renderer, objective, optim, data.train_pairs[order.indices(step)], model.binding)
        losses.append(terms["loss"].item())
        if step == 0:
            rec["psnr_first"] = round(float(terms["psnr"]), 3)
    sync(device)
    wall = time.perf_counter() - t0
    rec.update(steps_per_s=round(timed / wall, 3), s_per_step=round(wall / timed, 4),
               images_per_s=round(timed * p.batch_size / wall, 2), loss_first=losses[0], loss_last=losses[-1],
               psnr_last=round(float(terms["psnr"]), 3))
    return model


def part_ddp(rec: dict, cfg, device: torch.device, prior_dir: Path, work: Path, timeout_s: float) -> None:
    """`gasp train-prior --nproc K` (torchrun, DDP) on every visible GPU, or on 2 CPU processes (gloo)
    in the smoke run, for prior.steps steps; its steps/s from the run's own val_metrics.json."""
    import yaml

    if device.type == "cuda":
        k = torch.cuda.device_count()
        if k < 2:
            rec["note"] = "1 GPU: DDP not exercised"
            return
    else:
        k = 2
    cfg_k = cfg.to_dict()
    if cfg.prior.batch_size % k:
        cfg_k["prior"]["batch_size"] = cfg.prior.batch_size * k  # a multiple of the process count
    cfg_file, out = work / "ddp_config.yaml", work / "ddp"
    cfg_file.write_text(yaml.safe_dump(cfg_k))
    argv = [sys.executable, "-m", "gasp", "train-prior", "--data", str(prior_dir), "--variant", "all", "--out",
            str(out), "--configfile", str(cfg_file), "--nproc", str(k), "--no-progress"]
    if device.type == "cpu":
        argv += ["--threads", "1"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    rec.update(processes=k, backend="nccl" if device.type == "cuda" else "gloo",
               batch_size=cfg_k["prior"]["batch_size"], steps=cfg.prior.steps)
    t = time.perf_counter()
    # its own process group: on a timeout torchrun's workers are killed with it
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    rec.update(wall_s=round(time.perf_counter() - t, 2), returncode=proc.returncode)
    if proc.returncode != 0:
        raise RuntimeError(f"DDP run failed ({' '.join(argv[1:5])} ...): " + "\n".join(err.splitlines()[-15:]))
    val = json.loads((out / "val_metrics.json").read_text())
    rec.update(steps_per_s=round(val["steps_per_s"], 3), train_s=round(val["wall_s"], 2),
               psnr_heldout=val.get("psnr_heldout"), note="steps/s over the whole run (first steps included)")


def part_fit(rec: dict, cfg, device: torch.device, eval_dir: Path, prior, work: Path) -> None:
    from gasp import data
    from gasp.model.head import build_head_model
    from gasp.steps.fit import fit
    from gasp.steps.train_prior.loop import build_model

    if prior is None:
        prior = build_model(cfg, build_head_model(cfg.head), 1)
        rec["prior"] = "untrained (train_prior did not finish)"
    else:
        rec["prior"] = "trained in part train_prior"
    subject = data.load_subject(eval_dir)
    f = cfg.fit
    rec.update(setting="monocular", method="gasp", frames=int(((subject.groups == "video")
                                                               & (subject.splits == "train")).sum()),
               resolution=subject.width, batch_size=f.batch_size,
               steps={"invert": f.stage1_steps, "decoder": f.stage2_steps, "refine": f.stage3_steps})
    result = fit(subject, "monocular", "gasp", cfg, prior, device=device)
    rec["stages"] = [{"name": s.name, "steps": s.steps, "seconds": round(s.seconds, 3),
                      "steps_per_s": round(s.steps / max(s.seconds, 1e-9), 3), "loss_before": s.loss_before,
                      "loss_after": s.loss_after} for s in result.stages]
    rec["fit_s"] = round(result.seconds, 3)  # data preparation and visibility pass included
    rec["lpips"] = result.lpips
    rec["paper"] = "about 10 minutes per avatar (RTX 4090), about 15 MB"
    avatar = result.avatar
    rec["gaussians"] = avatar.n_gaussians
    for dtype in ("float16", "float32"):
        rec[f"avatar_mb_{dtype}"] = round(avatar.save(work / f"avatar_{dtype}.npz", half=dtype == "float16") / 1e6, 3)
    rec["attributes_mb_float32"] = round(avatar.attrs.numel() * 4 / 1e6, 3)  # uncompressed, for reference


# ------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="the JSON report (written after every part)")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="wall-time budget of the whole run, setup included: a part that would start with "
                         "less left than it needs is skipped")
    ap.add_argument("--smoke", action="store_true", help="every part on the CPU at tiny sizes (CI)")
    ap.add_argument("--commit", default=None, help="git commit to record when the copy has no .git")
    ap.add_argument("--work", default=None, help="folder for the generated data (default: a temporary one)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    if args.smoke:
        device, mode = torch.device("cpu"), SMOKE
    elif torch.cuda.is_available():
        device, mode = torch.device("cuda", 0), GPU
    else:
        print("gpu_check: no CUDA device; use --smoke for the CPU run at tiny sizes", file=sys.stderr)
        return 2
    run = Run(out, args.budget_s, copy.deepcopy(mode), device)
    from gasp.steps.train_prior.checkpoint import code_version

    run.report["machine"] = machine(device)
    run.report["code"] = {**code_version(), "commit_given": args.commit}
    cfg = make_config(mode)
    run.part("setup", part_setup, cfg, device, budgeted=False)
    run.report["config"] = {"uv_resolution": cfg.avatar.uv_resolution, "resolution": cfg.synth.resolution,
                            "latent_dim": cfg.prior.latent_dim, "batch_size": cfg.prior.batch_size,
                            "fit_steps": [cfg.fit.stage1_steps, cfg.fit.stage2_steps, cfg.fit.stage3_steps]}
    stem = out.with_suffix("")
    run.part("parity", part_parity, cfg, device, mode["parity"], Path(f"{stem}_parity.png"))
    run.part("render_speed", part_render_speed, cfg, device, mode["render"], Path(f"{stem}_frame.png"))
    with contextlib.ExitStack() as stack:
        work = Path(args.work or stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu_check.")))
        work.mkdir(parents=True, exist_ok=True)
        dirs = run.part("data", part_data, cfg, device, work)
        if dirs:
            prior = run.part("train_prior", part_train, cfg, device, dirs[0], mode["train_steps"])
            run.part("fit", part_fit, cfg, device, dirs[1], prior, work)
            run.part("train_prior_ddp", part_ddp, cfg, device, dirs[0], work, max(60.0, run.left()))
        else:
            for name in ("train_prior", "fit", "train_prior_ddp"):
                run.report["parts"][name] = {"status": "skipped: no data"}
    run.report["finished"] = True
    run.write()
    bad = {k: v["status"] for k, v in run.report["parts"].items() if v["status"] != "ok"}
    print(f"gpu_check: wrote {out} in {run.report['wall_s']:.1f} s" + (f"; not ok: {bad}" if bad else ""),
          file=sys.stderr)
    return 1 if "error" in bad.values() else 0


if __name__ == "__main__":
    sys.exit(main())
