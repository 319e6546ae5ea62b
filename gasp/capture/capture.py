"""`gasp capture`: a photo, a folder of photos or a video in, one subject folder (gasp/data.py) out.

    read (media.py) -> find the face and its 478 landmarks in each frame (landmarks.py)
    -> one square crop for the whole capture, framed as the synthetic renders are (so the prior
       sees heads at the size it was trained on), resized to synth.resolution
    -> the head model tracked to the landmarks (tracking.py): identity, per-frame expression,
       jaw and head pose seen by one fixed camera, whose focal length comes from EXIF, else a
       35 mm-equivalent prior (refined for video)
    -> alpha = person segmentation without what lies below the chin outside the head model's
       silhouette (shoulders, clothes), below the model's neck, or farther from the model than
       hair reaches
    -> subject folder, built in a temporary folder and renamed into place (a failed capture
       leaves nothing behind)

A single image becomes the `single` view group; a video becomes `video`, with every
`synth.video_test_every`-th frame held out (split `test`) so its fit can be scored on frames it
never saw.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gasp.camera import FULL_FRAME_DIAGONAL_MM
from gasp.capture.correspondence import LandmarkMap
from gasp.capture.landmarks import MIN_FACE_PX, FaceBox, FaceTracker
from gasp.capture.media import CaptureError, Media, read_media
from gasp.capture.tracking import Track, face_size, track
from gasp.config import Config

DEFAULT_FOCAL_35MM = 26.0   # a phone's main camera (35 mm equivalent), used when EXIF has no focal length
SEGMENT_PX = 384            # person segmentation runs on the crop at least this large
MIN_HEAD_COVERAGE = 0.5     # crop segmentation covering less of the tracked head than this: add the frame's
# Foreground farther than this from the head model's silhouette leaves the alpha: a neighbour's arm that
# touches the hair, a collar, a tight portrait's background. The synthetic subjects the prior learnt
# from reach at most 4.8 cm past the model (hair, 8 prior and 7 eval subjects), so the prior cannot
# place Gaussians much farther out; real photos reached 7-19 cm before this cap (docs/capture.md).
HAIR_REACH_CM = 8.0
# Framing when the landmark map carries none: crop side and centre offset in landmark-box heights.
DEFAULT_FRAMING = {"side_per_face": 2.8, "center_offset": [0.0, -0.12]}


@dataclass
class Detection:
    """One frame's face: index into the media frames, its box and its (478,2) landmarks (pixels)."""
    frame: int
    box: FaceBox
    landmarks: np.ndarray


@dataclass
class CaptureResult:
    """What `capture` made: the subject folder and a summary (JSON-able)."""
    subject_dir: Path
    summary: dict = field(default_factory=dict)


def _progress(enabled: bool, total: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, mininterval=0.5, leave=False)


def detect_faces(media: Media, tracker: FaceTracker, face: int | None, progress: bool) -> tuple[list[Detection], dict]:
    """Landmarks in every frame that shows the chosen face; frames without it are skipped and counted.

    face: which face of the first frame that has faces, largest first (None: the largest).
    """
    detections, skipped, notes = [], [], []
    prev: FaceBox | None = None
    n_faces_first = 0
    bar = _progress(progress, len(media.frames), "landmarks", "frame")
    for i, rgb in enumerate(media.frames):
        bar.update(1)
        where = media.names[i] if media.kind != "image" else str(media.source)
        boxes = tracker.detect(rgb)
        followed = not boxes and prev is not None
        if followed:  # video: look where the face was (as FaceMesh's own tracking does)
            boxes = [prev]
        if not boxes:
            skipped.append(f"{where}: no face")
            continue
        if prev is None:
            n_faces_first = len(boxes)
            k = face or 0
            if k >= len(boxes):
                raise CaptureError(f"{where}: --face {k}: only {len(boxes)} face(s) found (0 = the largest)")
            if len(boxes) > 1:
                notes.append(f"{where}: {len(boxes)} faces found; using face {k} "
                             f"({'the largest' if k == 0 else f'number {k} by size'}, {boxes[k].size:.0f} px); "
                             f"--face N picks another")
            box = boxes[k]
        else:  # follow the chosen face: the detection nearest to where it was
            box = min(boxes, key=lambda b: np.linalg.norm(b.center - prev.center))
        if box.size < MIN_FACE_PX:
            msg = (f"{where}: the face is {box.size:.0f} px tall; the tracker needs at least {MIN_FACE_PX} px "
                   f"(use a larger or closer photo)")
            if media.kind == "image":
                raise CaptureError(msg)
            skipped.append(msg)
            continue
        lm = tracker.landmarks(rgb, box.center, box.size)
        if lm is None:
            skipped.append(f"{where}: no face" if followed else f"{where}: FaceMesh found no landmarks in the face box")
            continue
        # where the next frame looks when no detector finds the face: the box of these landmarks
        # (about the detector's box: 104 px against a 108 px landmark span on the astronaut photo)
        centre, half = (lm.min(0) + lm.max(0)) / 2, np.ptp(lm, 0).max() / 2
        prev = FaceBox(centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half, box.score)
        detections.append(Detection(i, box, lm))
    bar.close()
    if not detections:
        reasons = "; ".join(sorted(set(s.split(": ", 1)[1] for s in skipped))) or "no face"
        raise CaptureError(f"{media.source}: no usable face in {len(media.frames)} frame(s) ({reasons})")
    return detections, {"frames_read": len(media.frames), "frames_used": len(detections),
                        "frames_skipped": skipped + media.skipped, "faces_in_first_frame": n_faces_first,
                        "notes": notes}


def framing(landmarks: np.ndarray, lmap: LandmarkMap) -> tuple[np.ndarray, float]:
    """One square crop for all frames: (top-left corner (2,), side) in source pixels, from the
    landmarks (T,L,2) and the synthetic renders' framing measured at registration."""
    fr = lmap.meta.get("framing", DEFAULT_FRAMING)
    size = float(np.median(face_size(landmarks)))
    centre = np.median((landmarks.min(1) + landmarks.max(1)) / 2, axis=0)
    centre = centre + np.asarray(fr["center_offset"]) * size
    side = fr["side_per_face"] * size
    return centre - side / 2, side


def crop_frames(frames: np.ndarray, corner: np.ndarray, side: float, out: int) -> tuple[np.ndarray, np.ndarray]:
    """The square crop of each frame (T,H,W,3), resized to out x out -> (rgb (T,out,out,3) uint8,
    inside (out,out) bool: which output pixels come from inside the source image)."""
    import cv2

    s = out / side
    M = np.array([[s, 0, -corner[0] * s], [0, s, -corner[1] * s]])   # source pixel -> output pixel
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    rgb = np.stack([cv2.warpAffine(f, M, (out, out), flags=interp, borderMode=cv2.BORDER_REPLICATE)
                    for f in frames])
    ones = np.ones(frames.shape[1:3], np.uint8)
    inside = cv2.warpAffine(ones, M, (out, out), flags=cv2.INTER_NEAREST, borderValue=0) > 0
    return rgb, inside


def intrinsics(media: Media, focal_35mm: float | None, corner: np.ndarray, side: float, out: int) -> tuple[np.ndarray, str]:
    """K (3,3) of the output crop and where its focal length came from."""
    diag = float(np.hypot(media.width, media.height))
    if focal_35mm is not None:
        f, source = focal_35mm / FULL_FRAME_DIAGONAL_MM * diag, f"--focal-35mm {focal_35mm:g}"
    elif media.focal_px is not None:
        f, source = media.focal_px, "EXIF FocalLengthIn35mmFilm"
    else:
        f, source = DEFAULT_FOCAL_35MM / FULL_FRAME_DIAGONAL_MM * diag, \
            f"prior: {DEFAULT_FOCAL_35MM:g} mm (35 mm equivalent; no EXIF focal length)"
    s = out / side
    K = np.array([[f * s, 0, (media.width / 2 - corner[0]) * s], [0, f * s, (media.height / 2 - corner[1]) * s],
                  [0, 0, 1.0]])
    return K, source


def matte(seg: np.ndarray, face_ids: np.ndarray, face_regions: np.ndarray, region_names: tuple, chin_y: float,
          inside: np.ndarray, px_per_cm: float) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and region labels of one frame.

    seg (H,W) person probability; face_ids (H,W) the posed head model's triangle per pixel (-1: none);
    face_regions (F,) region index per triangle; chin_y the chin's image row; inside (H,W) pixels
    from within the source image; px_per_cm the head's image scale -> alpha (H,W) float32 0..1,
    labels (H,W) uint8 (gasp.data.MASK_LABELS). Person pixels below the chin that lie outside the
    head model's silhouette (shoulders, collar), everything below the model's neck, everything
    farther than HAIR_REACH_CM from the silhouette, and person regions that do not touch the
    silhouette (a neighbour in a group photo, a hand at the frame's edge) are removed.
    """
    import cv2

    from gasp.data import MASK_LABELS

    H, W = seg.shape
    mesh = face_ids >= 0
    rows = np.arange(H)[:, None]
    margin = max(1, int(round(0.015 * W)))  # the model's neck is about as wide as a real one: little slack
    near_mesh = cv2.dilate(mesh.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    bottom = np.flatnonzero(mesh.any(1)).max() if mesh.any() else H
    keep = ~((rows > chin_y) & ~near_mesh) & (rows <= bottom)
    if mesh.any():
        keep &= cv2.distanceTransform((~mesh).astype(np.uint8), cv2.DIST_L2, 5) <= HAIR_REACH_CM * px_per_cm
    keep = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), 1.0)  # soft cut, no jagged edge
    alpha = np.clip(seg * keep * inside, 0, 1).astype(np.float32)
    if mesh.any():
        n, comp = cv2.connectedComponents((alpha >= 0.5).astype(np.uint8), connectivity=8)
        ours = np.unique(comp[mesh & (comp > 0)])
        others = (comp > 0) & ~np.isin(comp, ours)
        if others.any():  # with their soft rims, but never into the head's own region
            rim = cv2.dilate(others.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            alpha[rim & ~np.isin(comp, ours)] = 0.0
    labels = np.zeros((H, W), np.uint8)
    fg = alpha >= 0.5
    region = np.where(mesh, face_regions[np.clip(face_ids, 0, None)], -1)
    name_of = {i: n for i, n in enumerate(region_names)}
    lab = {n: MASK_LABELS.index(n) for n in MASK_LABELS}
    labels[fg] = lab["hair"]  # foreground the head model does not cover: hair (and whatever the model misses)
    for i, n in name_of.items():
        target = {"eyes": "eyes", "mouth": "mouth", "scalp": "hair"}.get(n, "skin")
        labels[fg & (region == i)] = lab[target]
    return alpha, labels


def _segmented_frames(frames: np.ndarray, tracker: FaceTracker, corner: np.ndarray, side: float, out: int):
    """t -> (out,out) the whole frame t's person segmentation, cut like the crop. The fallback where
    the crop's own segmentation misses the head (a tight portrait padded out to the crop confuses the
    model); computed only for the frames that need it."""
    def segment(t: int) -> np.ndarray:
        mask = tracker.segment(frames[t])[None, ..., None].repeat(3, -1)
        return crop_frames(mask, corner, side, out)[0][0, ..., 0]
    return segment


def capture(input_path: str | Path, out_dir: str | Path, cfg: Config, face: int | None = None,
            focal_35mm: float | None = None, max_frames: int = 48, overwrite: bool = False,
            progress: bool = True, landmark_map: LandmarkMap | None = None) -> CaptureResult:
    """Turn a photo, photo folder or video into a subject folder at out_dir (see module docstring)."""
    import cv2
    import torch

    from gasp import data
    from gasp.camera import orbit_camera
    from gasp.model.fitted_avatar import head_model
    from gasp.model.head.surface import face_id_image

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise CaptureError(f"{out_dir}: exists and is not empty (give --overwrite to replace it)")
    timings = {}
    t0 = time.perf_counter()
    media = read_media(input_path, max_frames)
    timings["read_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lmap = landmark_map or LandmarkMap.load()
    head = head_model(cfg.head)
    face_ids, barys = lmap.bind(head)
    with FaceTracker() as tracker:
        dets, stats = detect_faces(media, tracker, face, progress)
        R = cfg.synth.resolution
        lms = np.stack([d.landmarks for d in dets])
        corner, side = framing(lms, lmap)
        frames = media.frames[[d.frame for d in dets]]
        rgb, inside = crop_frames(frames, corner, side, R)
        seg_px = max(R, SEGMENT_PX)
        hi, _ = crop_frames(frames, corner, side, seg_px)
        seg = np.stack([cv2.resize(tracker.segment(f), (R, R), interpolation=cv2.INTER_AREA) for f in hi])
        timings["landmarks_s"] = time.perf_counter() - t0
        segmented_frames = _segmented_frames(frames, tracker, corner, side, R)

        t0 = time.perf_counter()
        lms_crop = (lms - corner) * (R / side)
        K, focal_source = intrinsics(media, focal_35mm, corner, side, R)
        _, w2c = orbit_camera(0.0, 0.0, cfg.synth.camera_distance, cfg.synth.focal_mm, R, R)
        w2c = w2c.astype(np.float64)
        video = len(dets) > 1
        bar = _progress(progress, 1, "tracking", "step")

        def tick(done, total):
            bar.total = total
            bar.n = done
            bar.refresh() if done % 20 == 0 or done == total else None

        tr: Track = track(head, face_ids, barys, lmap.weights(), lms_crop, K, w2c, video, progress=tick)
        bar.close()
        timings["tracking_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        T = len(dets)
        with torch.no_grad():
            tt = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
            verts = head.verts(tt(tr.shape)[None].expand(T, -1), tt(tr.expr), tt(tr.jaw), tt(tr.neck),
                               tt(tr.global_rt)).numpy()
        faces_np = head.faces.numpy()
        regions = head.face_regions.numpy()
        chin = lms_crop[:, 152, 1]  # FaceMesh point 152: the chin
        head_depth = (tr.global_rt[:, 3:] @ w2c[:3, :3].T + w2c[:3, 3])[:, 2]
        px_per_cm = tr.K[0, 0] * 0.01 / head_depth
        images, masks, fallbacks = [], [], []
        for t in range(T):
            fid = face_id_image(verts[t], faces_np, tr.K, w2c, R, R)
            head_px = fid >= 0
            if head_px.any() and seg[t][head_px].mean() < MIN_HEAD_COVERAGE:
                seg[t] = np.maximum(seg[t], segmented_frames(t))
                fallbacks.append(t)
            alpha, labels = matte(seg[t], fid, regions, head.regions, chin[t], inside, px_per_cm[t])
            images.append(np.dstack([rgb[t], (alpha * 255 + 0.5).astype(np.uint8)]))
            masks.append(labels)
        timings["matting_s"] = time.perf_counter() - t0

    if video:
        k = cfg.synth.video_test_every
        groups = ["video"] * T
        splits = ["test" if (k > 1 and i % k == 0 and T >= 3) else "train" for i in range(T)]
    else:
        groups, splits = ["single"], ["train"]
    views = [data.View(data.view_name(i), tr.K, w2c, groups[i], splits[i]) for i in range(T)]
    summary = {
        "source": str(Path(input_path)), "kind": media.kind if video else "image", **stats,
        "frame_names": [media.names[d.frame] for d in dets],
        "face_box_px": [float(d.box.size) for d in dets],
        "crop": {"corner_px": corner.tolist(), "side_px": float(side), "resolution": R},
        "segmentation_fallback_frames": fallbacks,
        "focal_px": float(tr.K[0, 0]), "focal_source": focal_source + (" (refined by tracking)" if video else ""),
        "landmark_reproj_px": {"mean": float(tr.reproj_px.mean()), "max": float(tr.reproj_px.max()),
                               "per_frame": tr.reproj_px.round(3).tolist()},
        "timings_s": {**{k: round(v, 3) for k, v in timings.items()}, "total_s": round(time.perf_counter() - t_start, 3)},
    }
    meta = {"subject": out_dir.name, "seed": 0, "domain": "capture", "capture": summary}
    _write_subject(out_dir, images, masks, views, R, tr, meta, overwrite)
    return CaptureResult(out_dir, summary)


def _write_subject(out_dir: Path, images, masks, views, R: int, tr: Track, meta: dict, overwrite: bool) -> None:
    """Build the subject in a temporary sibling folder, then rename it into place."""
    from gasp import data

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for i, (img, m) in enumerate(zip(images, masks)):
            data.write_view(tmp, i, img, m)
        data.write_cameras(tmp, R, R, views)
        data.write_params(tmp, tr.shape, tr.expr, tr.jaw, tr.neck, tr.global_rt)
        data.write_subject_meta(tmp, {**meta, "subject": out_dir.name})
        data.mark_done(tmp)
        if out_dir.exists():
            if any(out_dir.iterdir()) and not overwrite:
                raise CaptureError(f"{out_dir}: appeared while capturing; not replaced")
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
