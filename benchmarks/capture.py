"""Benchmark: `gasp capture` and `gasp avatar` against ground truth and on real photos.

    python benchmarks/capture.py                      # after `make run` (default preset data and prior)
    python benchmarks/capture.py --subjects 1 --settings single --photos astronaut   # quicker

1. Tracking against ground truth: each eval subject's rendered video (written to an mp4) and its
   single image go through `gasp capture` with their true parameters and cameras hidden. Reported:
   landmark reprojection error (px at synth.resolution), head rotation error (degrees, the head's
   rotation seen from the camera: tracked; for a video also refined by the fit, and final, every
   frame then aligned to the avatar, as `gasp avatar` writes it; the final also in the avatar's own
   frame, the truth turned by the alignment below, as refined poses and avatar can turn together), identity error (RMS mm between
   the neutral heads; the mean head for scale), focal error (%), and the ring PSNR of an avatar
   fitted (gasp, three stages, the default prior) from the tracked capture against one fitted from the true parameters, both rendered on the
   subject's true 360-degree ring: as is, and "aligned": a monocular capture fixes the head only up
   to a similarity (size against distance under an unknown focal length, the tracker's frame), so
   each avatar is first aligned by one head-frame similarity fitted to the fit frames' true images
   (`gasp.steps.fit.align_similarity`, the avatar frozen), which the ring cameras then carry; as
   pose-free novel-view evaluations align on the training views. Goals: rotation <= 3 degrees, ring
   PSNR within 1 dB of the true-parameter fit. The figure reports/figures/capture_ring.png shows
   each video's ring: truth, tracked avatar as is, aligned, and the true-parameter fit.
2. Real photos that ship inside installed packages: `gasp avatar` on each; dlib face detection on
   the avatar's rendered front and +-30 degree views, and dlib's identity distance between the
   photo's face and the rendered front view (same person below 0.6). The figure
   reports/figures/capture_real.png shows input, front, 45, 90 and 180 degrees per photo.
3. Time: seconds per step of `gasp avatar` on each photo (goal: <= 5 min on 2 CPU cores).

Writes --out (default benchmarks/results/capture.json) after every case, and prints tables.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gasp import data  # noqa: E402
from gasp.camera import orbit_cameras  # noqa: E402
from gasp.capture.capture import capture  # noqa: E402
from gasp.capture.tracking import carry_refinement  # noqa: E402
from gasp.capture.correspondence import head_rotation, head_yaw_pitch, rotation_angle_deg  # noqa: E402
from gasp.capture.make_avatar import make_avatar, psnr_on_views  # noqa: E402
from gasp.capture.media import frame_index  # noqa: E402
from gasp.config import load_config  # noqa: E402
from gasp.io import atomic_path, atomic_write_json  # noqa: E402
from gasp.metrics.images import background_rgb, composite_rgba  # noqa: E402
from gasp.model.fitted_avatar import Motion  # noqa: E402
from gasp.model.prior import GaspPrior  # noqa: E402
from gasp.steps.fit import align_poses, align_similarity, fit  # noqa: E402

SITE = Path(np.__file__).resolve().parents[1]
PHOTOS = {  # real people in installed wheels
    "astronaut": SITE / "skimage/data/astronaut.png",
    "grace_hopper": SITE / "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "tom_hanks": SITE / "insightface/data/images/Tom_Hanks_54745.png",
    "group_t1": SITE / "insightface/data/images/t1.jpg",
}
FIGURE_YAWS = (0.0, 45.0, 90.0, 180.0)


def composite_u8(images: np.ndarray, grey: float = 0.5) -> np.ndarray:
    return (255 * (images[..., :3] * images[..., 3:] + grey * (1 - images[..., 3:])) + 0.5).astype(np.uint8)


def neutral_verts(head, shapes: np.ndarray) -> np.ndarray:
    """(N,S) identities -> (N,V,3) their neutral heads (no expression, jaw, neck or pose)."""
    z = torch.zeros(len(shapes), 3)
    with torch.no_grad():
        return head.verts(torch.as_tensor(np.asarray(shapes), dtype=torch.float32), torch.zeros(len(shapes), head.n_expr),
                          z, z, torch.zeros(len(shapes), 6)).double().numpy()


def neutral_rms_mm(head, shape: np.ndarray, true_shape: np.ndarray) -> float:
    """RMS distance (mm) between the neutral heads of two identities (S,) over every vertex: how far
    an estimated identity's surface lies from the true one (coefficient distance weighs a component
    by its variance, not by how much surface it moves)."""
    v = neutral_verts(head, np.stack([shape, true_shape]))
    return float(1000 * np.sqrt(((v[0] - v[1]) ** 2).sum(-1).mean()))


def ring_u8(avatar, views: data.Subject, bg) -> np.ndarray:
    """(V,H,W,3) uint8 renders of the avatar in the views."""
    rgb, _ = avatar.render(Motion.from_subject(views), views.K, views.w2c, views.width, views.height, bg)
    return (rgb.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def tracking_case(subject: data.Subject, setting: str, cfg, prior: GaspPrior, work: Path) -> tuple[dict, dict]:
    """Capture the subject's own frames (truth hidden), compare with the truth, fit both ways ->
    (results, ring renders for the figure: truth, tracked as is, tracked aligned, true fit)."""
    import imageio.v2 as imageio
    from PIL import Image

    group = "video" if setting == "monocular" else "single"
    true = subject.select(group)
    frames = composite_u8(true.images)
    if setting == "monocular":
        src = work / f"{subject.id}.mp4"
        imageio.mimwrite(src, list(frames), fps=12, macro_block_size=1, quality=9)
    else:
        src = work / f"{subject.id}.png"
        Image.fromarray(frames[0]).save(src)
    t0 = time.perf_counter()
    cap = capture(src, work / f"{subject.id}_{setting}", cfg, progress=False, overwrite=True)
    capture_s = time.perf_counter() - t0
    tracked = data.load_subject(cap.subject_dir)
    true = true.take([frame_index(name) for name in cap.summary["frame_names"]])  # a frame without a face is skipped
    n = len(tracked)

    def rotation_errors(global_rt: np.ndarray, gauge: np.ndarray = np.eye(3)) -> dict:
        """Per-frame head rotation error against the truth turned by `gauge` (3,3), the avatar's frame
        in the true head's (HeadSimilarity's Q)."""
        err = [rotation_angle_deg(head_rotation(tracked.w2c[i], global_rt[i], tracked.neck[i]),
                                  head_rotation(true.w2c[i], true.global_rt[i], true.neck[i]) @ gauge) for i in range(n)]
        return {"median": float(np.median(err)), "max": float(np.max(err))}

    scale = cfg.synth.resolution / cap.summary["crop"]["side_px"]   # source pixels -> capture pixels
    focal_err = 100 * (tracked.K[0, 0, 0] / (true.K[0, 0, 0] * scale) - 1)
    yaws = [head_yaw_pitch(true.w2c[i], true.global_rt[i], true.neck[i])[0] for i in range(n)]

    bg = background_rgb(cfg.eval.background)
    ring = subject.select("ring")
    out = {"subject": subject.id, "setting": setting, "frames": n, "frames_skipped": len(frames) - n,
           "capture_s": capture_s,
           "landmark_reproj_px": cap.summary["landmark_reproj_px"]["mean"],
           "rotation_err_deg": rotation_errors(tracked.global_rt),
           "true_yaw_range_deg": [float(min(yaws)), float(max(yaws))], "focal_err_pct": float(focal_err),
           "focal_source": cap.summary["focal_source"]}
    # the monocular gauge, for both avatars alike: the similarity that fits the avatar, posed by the fit
    # frames' true head parameters, to their true images (fit.align_similarity); no ring information
    fit_frames = true.take(tracked.indices(split="train"))
    for name, subj in (("tracked", tracked), ("true", subject)):
        t0 = time.perf_counter()
        # as gasp avatar fits: a tracked video's poses and identity refined with the avatar
        res = fit(subj, setting, "gasp", cfg, prior, refine_tracking=name == "tracked" and setting == "monocular")
        out[f"fit_{name}_s"] = time.perf_counter() - t0
        out[f"ring_psnr_{name}_db"] = psnr_on_views(res.avatar, ring, bg)
        if name == "tracked":
            fit_ids = tracked.indices(split="train")
            final = tracked
            if res.global_rt is not None:  # a video: refined by the fit, then every frame aligned (as gasp avatar)
                refined = dataclasses.replace(tracked, global_rt=carry_refinement(tracked.global_rt, fit_ids, res.global_rt),
                                              shape=res.avatar.shape.numpy())
                out["rotation_err_refined_deg"] = rotation_errors(refined.global_rt)
                t0 = time.perf_counter()
                final = dataclasses.replace(refined, global_rt=align_poses(res.avatar, refined, cfg))
                out["align_poses_s"] = time.perf_counter() - t0
            out["rotation_err_final_deg"] = rotation_errors(final.global_rt)
            out["identity_err_mm"] = {name: neutral_rms_mm(res.avatar.head, shape, subject.shape) for name, shape in
                                      (("tracked", tracked.shape), ("refined", res.avatar.shape.numpy()),
                                       ("mean_head", np.zeros_like(subject.shape)))}
        t0 = time.perf_counter()
        sim = align_similarity(res.avatar, fit_frames, cfg)
        out[f"similarity_{name}"] = {"scale": sim.scale, "rotation_deg": float(np.degrees(sim.rot.detach().norm())),
                                     "shift_mm": (1000 * sim.shift.detach()).tolist(), "seconds": time.perf_counter() - t0}
        aligned_ring = dataclasses.replace(ring, w2c=sim.cameras(ring.w2c, ring.global_rt, ring.neck))
        out[f"ring_psnr_{name}_aligned_db"] = psnr_on_views(res.avatar, aligned_ring, bg)
        if name == "tracked":  # the final poses against the truth also in the avatar's own frame
            out["rotation_err_final_gauge_deg"] = rotation_errors(final.global_rt, sim.rotation())
            renders = {"truth": composite_u8(ring.images, grey=1.0), "tracked, as is": ring_u8(res.avatar, ring, bg),
                       f"tracked, aligned (scale {sim.scale:.2f})": ring_u8(res.avatar, aligned_ring, bg)}
        else:
            renders["true-parameter fit"] = ring_u8(res.avatar, ring, bg)
    out["ring_psnr_gap_db"] = out["ring_psnr_true_db"] - out["ring_psnr_tracked_db"]
    out["ring_psnr_gap_aligned_db"] = out["ring_psnr_true_aligned_db"] - out["ring_psnr_tracked_aligned_db"]
    return out, renders


def dlib_checks(photo_rgb: np.ndarray, views: dict[float, np.ndarray], face_size: int) -> dict:
    """dlib HOG detection on rendered views (uint8 RGB) and the descriptor distance photo <-> front view."""
    from gasp.metrics.faces import DlibFaces

    faces = DlibFaces(face_size)

    def first_face(img):
        im = faces.prepare(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0]
        box = faces.detect(im)
        return im, box

    detected = {}
    for yaw, img in views.items():
        detected[f"{yaw:+.0f}"] = first_face(img)[1] is not None
    dist = None
    im_p, box_p = first_face(photo_rgb)
    im_f, box_f = first_face(views[0.0])
    if box_p is not None and box_f is not None:
        d_p = faces.descriptor(im_p, faces.landmarks(im_p, box_p))
        d_f = faces.descriptor(im_f, faces.landmarks(im_f, box_f))
        dist = float(np.linalg.norm(d_p - d_f))
    return {"detected": detected, "identity_distance": dist}


def photo_case(name: str, path: Path, cfg, prior_path: Path, work: Path, size: int) -> tuple[dict, list[np.ndarray]]:
    from gasp.model.fitted_avatar import Avatar
    from PIL import Image

    out = work / name
    summary = make_avatar(path, out, cfg, prior=prior_path, overwrite=True, progress=False, echo=lambda s: None)
    avatar = Avatar.load(out / "avatar.npz")
    capture_dir = out / "capture"
    expr = Motion.from_subject(data.load_subject(capture_dir, images=False))
    yaws = (0.0, -30.0, 30.0) + FIGURE_YAWS[1:]
    K, w2c = orbit_cameras(list(yaws), 5.0, cfg.synth.camera_distance, cfg.synth.focal_mm, size, size)
    motion = Motion.neutral(len(yaws), avatar.head.n_expr)
    motion.expr[:], motion.jaw[:] = expr.expr[0], expr.jaw[0]
    rgb, _ = avatar.render(motion, K, w2c, size, size, background_rgb(cfg.eval.background))
    views = {y: (rgb[i].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8) for i, y in enumerate(yaws)}
    photo = np.asarray(Image.open(path).convert("RGB"))
    checks = dlib_checks(photo, {y: views[y] for y in (0.0, -30.0, 30.0)}, cfg.metrics.face_size)
    crop = np.asarray(Image.open(capture_dir / "images" / "000.png").convert("RGBA"), np.float32) / 255
    bg = np.asarray(background_rgb(cfg.eval.background), np.float32)
    crop_rgb = (composite_rgba(crop, bg) * 255 + 0.5).astype(np.uint8)
    src = np.asarray(Image.fromarray(photo).resize((size * photo.shape[1] // photo.shape[0], size)))
    row = [src, crop_rgb] + [views[y] for y in FIGURE_YAWS]
    return {"photo": name, "file": str(path.relative_to(SITE)), **checks,
            "psnr_input_db": summary["psnr_input_frames_db"], "seconds": summary["seconds"],
            "landmark_reproj_px": summary["capture"]["landmark_reproj_px"]["mean"],
            "notes": summary["capture"]["notes"]}, row


def figure(rows: dict[str, list[np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["photo", "capture (alpha)", "front", "45", "90", "180"]
    fig, axes = plt.subplots(len(rows), len(titles), figsize=(2.0 * len(titles) + 0.6, 2.1 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [rows[next(iter(rows))][0].shape[1] / rows[next(iter(rows))][0].shape[0]] + [1] * 5})
    for r, (name, panels) in enumerate(rows.items()):
        for c, img in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        axes[r, 0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def ring_figure(cases: dict[str, dict[str, np.ndarray]], path: Path, every: int = 2) -> None:
    """Per subject, rows of ring views (every `every`-th): truth, tracked as is, aligned, true fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{sid}\n{label}", imgs[::every]) for sid, renders in cases.items() for label, imgs in renders.items()]
    cols = len(rows[0][1])
    height = 1.45 * len(rows) + 0.4
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.4 * cols + 1.2, height), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c, img in enumerate(imgs):
            axes[r, c].imshow(img)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle("360-degree ring of tracked videos: the avatar as fitted, after the monocular gauge is aligned, "
                 "and the fit from the true parameters", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))  # room for the title
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/synth/eval", help="eval subjects (default preset, after make run)")
    ap.add_argument("--prior", default="models/prior/all/prior.pt")
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--settings", nargs="*", default=["monocular", "single"], choices=["monocular", "single"])
    ap.add_argument("--photos", nargs="*", default=list(PHOTOS), choices=list(PHOTOS))
    ap.add_argument("--out", default="benchmarks/results/capture.json")
    ap.add_argument("--figure", default="reports/figures/capture_real.png")
    ap.add_argument("--ring-figure", default="reports/figures/capture_ring.png", help="tracked videos' rings")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config()
    prior, _ = GaspPrior.load(args.prior)
    results = {"config": "params.yaml (default preset)", "threads": args.threads, "tracking": [], "photos": []}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gasp-capture-bench-") as tmp:
        work = Path(tmp)
        ring_cases = {}
        for sid in (data.list_subjects(args.data)[:args.subjects] if args.subjects else []):
            subject = data.load_subject(Path(args.data) / sid)
            for setting in args.settings:
                r, renders = tracking_case(subject, setting, cfg, prior, work)
                results["tracking"].append(r)
                if setting == "monocular":
                    ring_cases[sid] = renders
                rot = lambda k: (f"{r[k]['median']:.2f} / {r[k]['max']:.2f}" if k in r else "-")  # noqa: E731
                print(f"{sid} {setting:9s}  landmarks {r['landmark_reproj_px']:.2f} px  rotation median / max deg: "
                      f"tracked {rot('rotation_err_deg')}, refined {rot('rotation_err_refined_deg')}, final "
                      f"{rot('rotation_err_final_deg')} (in the avatar's frame {rot('rotation_err_final_gauge_deg')})  focal "
                      f"{r['focal_err_pct']:+.1f}%  ring PSNR tracked {r['ring_psnr_tracked_db']:.2f} / true "
                      f"{r['ring_psnr_true_db']:.2f} dB (gap {r['ring_psnr_gap_db']:+.2f}; aligned {r['ring_psnr_gap_aligned_db']:+.2f})", flush=True)
                atomic_write_json(args.out, results)
        rows = {}
        for name in args.photos:
            r, row = photo_case(name, PHOTOS[name], cfg, Path(args.prior), work, cfg.synth.resolution)
            results["photos"].append(r)
            rows[name] = row
            print(f"{name:13s} detected {r['detected']}  identity distance {r['identity_distance']}  "
                  f"total {r['seconds']['total_s']:.0f} s ({', '.join(f'{k} {v:.0f}' for k, v in r['seconds'].items())})",
                  flush=True)
            atomic_write_json(args.out, results)
        if rows:
            figure(rows, Path(args.figure))
        if ring_cases:
            ring_figure(ring_cases, Path(args.ring_figure))
    tr = results["tracking"]
    if tr:
        def summary(setting: str) -> dict:
            rs = [r for r in tr if r["setting"] == setting]
            medians = {f"{k}_median": float(np.median([r[k]["median"] for r in rs]))
                       for k in ("rotation_err_deg", "rotation_err_final_deg", "rotation_err_final_gauge_deg")}
            means = {f"{k}_mean": float(np.mean([r[k] for r in rs]))
                     for k in ("ring_psnr_gap_aligned_db", "ring_psnr_gap_db", "focal_err_pct")}
            return medians | means

        results["summary"] = {setting: summary(setting) for setting in args.settings}
        print(json.dumps(results["summary"], indent=1))
    results["wall_s"] = time.perf_counter() - t_all
    atomic_write_json(args.out, results)
    figures = ([args.figure] if args.photos else []) + ([args.ring_figure] if "monocular" in args.settings and args.subjects else [])
    print(f"wrote {args.out}" + "".join(f" and {f}" for f in figures) + f" in {results['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
