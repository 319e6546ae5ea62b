"""Face-likeness, measured with dlib (no Blender): HOG detection and ResNet face descriptors.

Input: the frontal renders of `gasp synth facecheck` (several views per subject, check light).
Pass: detection >= 95% of images and >= 90% in the darkest skin-tone quintile; same-subject view
pairs closer than different-subject pairs in >= 95% of comparisons; mean different-subject distance
>= 0.45 (dlib calls faces the same person below 0.6).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

CHECK_YAWS = [-12.0, 10.0]
THRESHOLDS = {"detect_rate": 0.95, "detect_rate_darkest_quintile": 0.90, "ranking_accuracy": 0.95,
              "mean_between_distance": 0.45}


def _dlib_models():
    import dlib
    import face_recognition_models as frm

    return (dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
            dlib.face_recognition_model_v1(frm.face_recognition_model_location()))


def _load_rgb_on_grey(path: Path) -> np.ndarray:
    """RGBA render composited over mid grey (a neutral background for the detector) -> (H,W,3) uint8."""
    import cv2

    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA).astype(np.float32)
    a = img[..., 3:] / 255.0
    return (img[..., :3] * a + 128.0 * (1 - a)).round().astype(np.uint8)


def facecheck_report(records: list[dict], image_dir: Path) -> dict:
    """records: previews.json entries (subject, appearance.skin_tone, images). Returns every figure."""
    detector, landmarks, encoder = _dlib_models()
    per_image, descriptors = [], {}
    for rec in records:
        for name in rec["images"]:
            rgb = _load_rgb_on_grey(image_dir / name)
            dets = detector(rgb, 1)
            ok = len(dets) > 0
            per_image.append({"image": name, "subject": rec["subject"], "skin_tone": rec["appearance"]["skin_tone"],
                              "detected": bool(ok)})
            if ok:
                box = max(dets, key=lambda r: r.area())
                desc = np.array(encoder.compute_face_descriptor(rgb, landmarks(rgb, box), 1))
                descriptors.setdefault(rec["subject"], []).append(desc)
    tones = np.array([r["appearance"]["skin_tone"] for r in records])
    darkest = {rec["subject"] for rec, t in zip(records, tones) if t >= np.quantile(tones, 0.8)}
    det = np.array([p["detected"] for p in per_image])
    det_dark = np.array([p["detected"] for p in per_image if p["subject"] in darkest])

    # ranking: for every same-subject pair (a, b), compare d(a, b) with d(a, x) for every view x of another subject
    subjects = [s for s, d in descriptors.items() if len(d) >= 2]
    within, between, wins, total = [], [], 0, 0
    for s in subjects:
        for i in range(len(descriptors[s])):
            for j in range(i + 1, len(descriptors[s])):
                a, b = descriptors[s][i], descriptors[s][j]
                d_ab = float(np.linalg.norm(a - b))
                within.append(d_ab)
                for t, others in descriptors.items():
                    if t == s:
                        continue
                    for x in others:
                        for anchor in (a, b):
                            wins += d_ab < np.linalg.norm(anchor - x)
                            total += 1
    keys = list(descriptors)
    for i, s in enumerate(keys):
        for t in keys[i + 1:]:
            between += [float(np.linalg.norm(a - b)) for a in descriptors[s] for b in descriptors[t]]
    figures = {
        "subjects": len(records), "images": len(per_image),
        "detect_rate": float(det.mean()) if len(det) else 0.0,
        "detect_rate_darkest_quintile": float(det_dark.mean()) if len(det_dark) else 0.0,
        "darkest_quintile_subjects": sorted(darkest),
        "ranking_accuracy": wins / total if total else 0.0, "ranking_comparisons": total,
        "mean_within_distance": float(np.mean(within)) if within else None,
        "mean_between_distance": float(np.mean(between)) if between else 0.0,
        "min_between_distance": float(np.min(between)) if between else None,
        "frac_between_below_0.6": float(np.mean(np.array(between) < 0.6)) if between else None,
    }
    checks = {k: bool(figures[k] >= v) for k, v in THRESHOLDS.items()}
    return {**figures, "thresholds": THRESHOLDS, "checks": checks, "pass": all(checks.values()),
            "yaws": CHECK_YAWS, "per_image": per_image}
