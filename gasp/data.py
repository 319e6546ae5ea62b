"""The on-disk synthetic dataset format, defined once: writer, reader and validation.

Layout (docs/interfaces.md, "gasp/data.py"):

    <root>/<domain>/manifest.json              {"format", "domain", "subjects", "config", "sha256"}
    <root>/<domain>/<subject>/images/NNN.png   RGBA, 8-bit, straight alpha
                             /masks/NNN.png    8-bit region label per pixel (MASK_LABELS)
                             /cameras.json     {"width", "height", "views": [{"id", "K", "w2c", "group", "split"}]}
                             /params.npz       shape (S,), expr (V,E), jaw (V,3), neck (V,3), global_rt (V,6)
                             /subject.json     {"format", "subject", "seed", "domain", "appearance", "hair", ...}
                                               (domain "capture", from gasp/capture/: no appearance or hair,
                                               a "capture" summary instead)
                             /DONE             written last: a folder without it is incomplete

`w2c` is OpenCV world-to-camera (x right, y down, z forward); `K` in pixels with pixel centres at
integer + 0.5. The synthetic generator (synth/) writes through this module; training, fitting and
evaluation read through it. No Blender here. Every error names the file and the field.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np

from gasp.io import atomic_write_bytes, atomic_write_json, atomic_write_text

FORMAT = 1
DOMAINS = ("prior", "eval", "capture")
SYNTHETIC_DOMAINS = ("prior", "eval")  # rendered by synth/ (appearance and hair recorded); "capture": gasp capture
GROUPS = ("prior", "video", "single", "ring", "rig")
SPLITS = ("train", "test")
MASK_LABELS = ("background", "skin", "hair", "eyes", "mouth")
PARAM_KEYS = ("shape", "expr", "jaw", "neck", "global_rt")
SUBJECT_ID = re.compile(r"^[pe]\d{4,}$")
DONE = "DONE"


class DataError(ValueError):
    """A dataset file is missing or wrong; the message names the file and the field."""


def subject_id(domain: str, index: int) -> str:
    """'p0003' for the 4th prior subject, 'e0000' for the first eval subject."""
    if domain not in DOMAINS:
        raise DataError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    return f"{domain[0]}{index:04d}"


def view_name(index: int) -> str:
    return f"{index:03d}"


@dataclasses.dataclass(frozen=True)
class View:
    """One camera: K (3,3) pixels, w2c (4,4) OpenCV world-to-camera, its protocol group and split."""
    id: str
    K: np.ndarray
    w2c: np.ndarray
    group: str
    split: str

    def to_json(self) -> dict:
        return {"id": self.id, "K": np.asarray(self.K, float).tolist(),
                "w2c": np.asarray(self.w2c, float).tolist(), "group": self.group, "split": self.split}


@dataclasses.dataclass(frozen=True)
class Subject:
    """A loaded subject. V views; arrays are numpy.

    images (V,H,W,4) float32 in 0..1 (straight alpha) or None; masks (V,H,W) uint8 labels or None;
    K (V,3,3); w2c (V,4,4); groups, splits (V,) str; shape (S,); expr (V,E); jaw, neck (V,3); global_rt (V,6).
    """
    dir: Path
    id: str
    domain: str
    seed: int
    width: int
    height: int
    view_ids: list[str]
    K: np.ndarray
    w2c: np.ndarray
    groups: np.ndarray
    splits: np.ndarray
    shape: np.ndarray
    expr: np.ndarray
    jaw: np.ndarray
    neck: np.ndarray
    global_rt: np.ndarray
    meta: dict
    images: np.ndarray | None = None
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.view_ids)

    def indices(self, group: str | None = None, split: str | None = None) -> np.ndarray:
        """Positions (in stored order) of the views of one protocol group and/or split (None = any)."""
        if group is not None and group not in GROUPS:
            raise DataError(f"unknown group {group!r}; expected one of {GROUPS}")
        if split is not None and split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {SPLITS}")
        keep = np.ones(len(self), bool)
        if group is not None:
            keep &= self.groups == group
        if split is not None:
            keep &= self.splits == split
        return np.flatnonzero(keep)

    def select(self, group: str | None = None, split: str | None = None) -> "Subject":
        """The views of one protocol group and/or split (None = any), in their stored order."""
        return self.take(self.indices(group, split))

    def take(self, idx) -> "Subject":
        """The views at positions idx (in that order)."""
        idx = np.asarray(idx, dtype=int)
        per_view = {k: getattr(self, k)[idx] for k in ("K", "w2c", "groups", "splits", "expr", "jaw", "neck",
                                                       "global_rt")}
        for k in ("images", "masks"):
            arr = getattr(self, k)
            per_view[k] = None if arr is None else arr[idx]
        return dataclasses.replace(self, view_ids=[self.view_ids[i] for i in idx], **per_view)


# ------------------------------------------------------------------------------------------------
# Writing (synth/ calls these; each file is written atomically; DONE last)


def encode_png(arr: np.ndarray) -> bytes:
    """PNG bytes of an (H,W,4) RGBA or (H,W) uint8 array (deterministic encoder settings)."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise DataError(f"PNG data must be uint8, got {arr.dtype}")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise DataError("PNG encoding failed")
    return buf.tobytes()


def write_view(subject_dir: Path, index: int, rgba: np.ndarray, mask: np.ndarray) -> None:
    """images/NNN.png from rgba (H,W,4) uint8 and masks/NNN.png from mask (H,W) uint8 labels."""
    subject_dir = Path(subject_dir)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise DataError(f"view {index}: rgba must be (H,W,4), got {rgba.shape}")
    if mask.shape != rgba.shape[:2]:
        raise DataError(f"view {index}: mask {mask.shape} does not match image {rgba.shape[:2]}")
    atomic_write_bytes(subject_dir / "images" / f"{view_name(index)}.png", encode_png(rgba))
    atomic_write_bytes(subject_dir / "masks" / f"{view_name(index)}.png", encode_png(mask))


def write_cameras(subject_dir: Path, width: int, height: int, views: list[View]) -> None:
    atomic_write_json(Path(subject_dir) / "cameras.json",
                      {"width": int(width), "height": int(height), "views": [v.to_json() for v in views]})


def write_params(subject_dir: Path, shape, expr, jaw, neck, global_rt) -> None:
    """params.npz: shape (S,), expr (V,E), jaw (V,3), neck (V,3), global_rt (V,6) as float32."""
    arrays = {k: np.asarray(v, np.float32) for k, v in zip(PARAM_KEYS, (shape, expr, jaw, neck, global_rt))}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(subject_dir) / "params.npz", buf.getvalue())


def write_subject_meta(subject_dir: Path, meta: dict) -> None:
    """subject.json; `meta` must hold at least subject, seed, domain, appearance, hair."""
    atomic_write_json(Path(subject_dir) / "subject.json", {"format": FORMAT, **meta})


def mark_done(subject_dir: Path) -> None:
    atomic_write_text(Path(subject_dir) / DONE, "ok\n")


def is_done(subject_dir: Path) -> bool:
    return (Path(subject_dir) / DONE).exists()


def subject_digest(subject_dir: Path) -> str:
    """sha256 over (relative path, content) of every file of a subject, in sorted order."""
    subject_dir = Path(subject_dir)
    h = hashlib.sha256()
    for p in sorted(q for q in subject_dir.rglob("*") if q.is_file() and not q.name.startswith(".")):
        h.update(p.relative_to(subject_dir).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def write_manifest(domain_dir: Path, domain: str, subjects: list[str], config: dict) -> dict:
    """manifest.json over finished subjects: their ids, the synth config used and per-subject digests."""
    domain_dir = Path(domain_dir)
    missing = [s for s in subjects if not is_done(domain_dir / s)]
    if missing:
        raise DataError(f"{domain_dir}: subjects without a {DONE} marker: {', '.join(missing)}")
    manifest = {"format": FORMAT, "domain": domain, "subjects": list(subjects), "config": config,
                "sha256": {s: subject_digest(domain_dir / s) for s in subjects}}
    atomic_write_json(domain_dir / "manifest.json", manifest)
    return manifest


# ------------------------------------------------------------------------------------------------
# Reading


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON: {e}") from None


def _matrix(path: Path, field: str, value, shape: tuple[int, int]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {field}: not a numeric {shape[0]}x{shape[1]} matrix") from None
    if arr.shape != shape:
        raise DataError(f"{path}: {field}: shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: {field}: contains NaN or inf")
    return arr


def _check_K(path: Path, field: str, K: np.ndarray) -> None:
    if K[0, 0] <= 0 or K[1, 1] <= 0 or K[0, 1] != 0 or K[1, 0] != 0 or not np.allclose(K[2], [0, 0, 1]):
        raise DataError(f"{path}: {field}: not a pinhole intrinsic matrix [[fx,0,cx],[0,fy,cy],[0,0,1]] "
                        f"with fx, fy > 0")


def _check_w2c(path: Path, field: str, w2c: np.ndarray) -> None:
    R = w2c[:3, :3]
    if not np.allclose(w2c[3], [0, 0, 0, 1]):
        raise DataError(f"{path}: {field}: last row must be [0, 0, 0, 1]")
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
        raise DataError(f"{path}: {field}: rotation part is not a proper rotation (orthonormal, det +1)")


def read_cameras(subject_dir: Path) -> tuple[int, int, list[View]]:
    path = Path(subject_dir) / "cameras.json"
    data = _read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: top level must be an object")
    for key in ("width", "height"):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool) or data[key] <= 0:
            raise DataError(f"{path}: {key}: must be a positive integer, got {data.get(key)!r}")
    views = data.get("views")
    if not isinstance(views, list) or not views:
        raise DataError(f"{path}: views: must be a non-empty list")
    out = []
    for i, v in enumerate(views):
        where = f"views[{i}]"
        if not isinstance(v, dict):
            raise DataError(f"{path}: {where}: must be an object")
        if v.get("id") != view_name(i):
            raise DataError(f"{path}: {where}.id: {v.get('id')!r}, expected {view_name(i)!r}")
        K = _matrix(path, f"{where}.K", v.get("K"), (3, 3))
        _check_K(path, f"{where}.K", K)
        w2c = _matrix(path, f"{where}.w2c", v.get("w2c"), (4, 4))
        _check_w2c(path, f"{where}.w2c", w2c)
        if v.get("group") not in GROUPS:
            raise DataError(f"{path}: {where}.group: {v.get('group')!r} is not one of {GROUPS}")
        if v.get("split") not in SPLITS:
            raise DataError(f"{path}: {where}.split: {v.get('split')!r} is not one of {SPLITS}")
        out.append(View(v["id"], K, w2c, v["group"], v["split"]))
    return data["width"], data["height"], out


def read_params(subject_dir: Path, n_views: int) -> dict[str, np.ndarray]:
    path = Path(subject_dir) / "params.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npz: {e}") from None
    expected = {"shape": (None,), "expr": (n_views, None), "jaw": (n_views, 3), "neck": (n_views, 3),
                "global_rt": (n_views, 6)}
    for key, shp in expected.items():
        if key not in arrays:
            raise DataError(f"{path}: {key}: missing")
        a = arrays[key]
        if a.ndim != len(shp) or any(s is not None and s != d for s, d in zip(shp, a.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shp) + ")"
            raise DataError(f"{path}: {key}: shape {a.shape}, expected {want} for {n_views} views")
        if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
            raise DataError(f"{path}: {key}: must be finite floats")
    return {k: arrays[k].astype(np.float32) for k in PARAM_KEYS}


def read_subject_meta(subject_dir: Path) -> dict:
    path = Path(subject_dir) / "subject.json"
    meta = _read_json(path)
    if not isinstance(meta, dict):
        raise DataError(f"{path}: top level must be an object")
    if not isinstance(meta.get("seed"), int) or isinstance(meta.get("seed"), bool):
        raise DataError(f"{path}: seed: must be an integer, got {meta.get('seed')!r}")
    if meta.get("domain") not in DOMAINS:
        raise DataError(f"{path}: domain: {meta.get('domain')!r} is not one of {DOMAINS}")
    for key in ("appearance", "hair") if meta["domain"] in SYNTHETIC_DOMAINS else ():
        if not isinstance(meta.get(key), dict):
            raise DataError(f"{path}: {key}: must be an object")
    if meta.get("subject") != Path(subject_dir).name:
        raise DataError(f"{path}: subject: {meta.get('subject')!r} does not match the folder name "
                        f"{Path(subject_dir).name!r}")
    return meta


def read_image(path: Path, width: int, height: int) -> np.ndarray:
    """(H,W,4) uint8 RGBA from images/NNN.png, checked against the cameras' width and height."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"{path}: missing or not a readable PNG")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 4:
        raise DataError(f"{path}: pixels: expected 8-bit RGBA, got {img.dtype} {img.shape}")
    if img.shape[:2] != (height, width):
        raise DataError(f"{path}: size: {img.shape[1]}x{img.shape[0]}, cameras.json says {width}x{height}")
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def read_mask(path: Path, width: int, height: int) -> np.ndarray:
    """(H,W) uint8 labels (indices into MASK_LABELS) from masks/NNN.png."""
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise DataError(f"{path}: missing or not a readable PNG")
    if m.dtype != np.uint8 or m.ndim != 2 or m.shape != (height, width):
        raise DataError(f"{path}: pixels: expected 8-bit single-channel {width}x{height}, got {m.dtype} {m.shape}")
    if m.max() >= len(MASK_LABELS):
        raise DataError(f"{path}: labels: value {int(m.max())} outside 0..{len(MASK_LABELS) - 1} ({MASK_LABELS})")
    return m


def load_subject(subject_dir: str | Path, images: bool = True, masks: bool = False) -> Subject:
    """Read one finished subject folder (DONE present). images -> float32 RGBA in 0..1."""
    d = Path(subject_dir)
    if not d.is_dir():
        raise DataError(f"{d}: subject folder not found")
    if not is_done(d):
        raise DataError(f"{d / DONE}: missing: the subject is incomplete (rendering did not finish)")
    meta = read_subject_meta(d)
    width, height, views = read_cameras(d)
    params = read_params(d, len(views))
    imgs = None
    if images:
        imgs = np.stack([read_image(d / "images" / f"{v.id}.png", width, height) for v in views])
        imgs = imgs.astype(np.float32) / 255.0
    msk = np.stack([read_mask(d / "masks" / f"{v.id}.png", width, height) for v in views]) if masks else None
    return Subject(dir=d, id=d.name, domain=meta["domain"], seed=meta["seed"], width=width, height=height,
                   view_ids=[v.id for v in views], K=np.stack([v.K for v in views]).astype(np.float32),
                   w2c=np.stack([v.w2c for v in views]).astype(np.float32),
                   groups=np.array([v.group for v in views]), splits=np.array([v.split for v in views]),
                   meta=meta, images=imgs, masks=msk, **params)


def read_manifest(domain_dir: str | Path) -> dict:
    path = Path(domain_dir) / "manifest.json"
    m = _read_json(path)
    if not isinstance(m, dict):
        raise DataError(f"{path}: top level must be an object")
    if m.get("domain") not in DOMAINS:
        raise DataError(f"{path}: domain: {m.get('domain')!r} is not one of {DOMAINS}")
    subjects = m.get("subjects")
    if not isinstance(subjects, list) or not all(isinstance(s, str) and SUBJECT_ID.match(s) for s in subjects):
        raise DataError(f"{path}: subjects: must be a list of subject ids like 'p0000'")
    if not isinstance(m.get("sha256"), dict) or set(m["sha256"]) != set(subjects):
        raise DataError(f"{path}: sha256: must have one digest per listed subject")
    return m


def list_subjects(domain_dir: str | Path) -> list[str]:
    """Subject ids of a domain, as listed in its manifest."""
    return read_manifest(domain_dir)["subjects"]


# ------------------------------------------------------------------------------------------------
# Validation (`gasp synth validate DIR`)


def validate_subject(subject_dir: str | Path, domain: str | None = None) -> list[str]:
    """Every problem of one subject folder, each naming the file and field; [] when valid."""
    d = Path(subject_dir)
    errors: list[str] = []
    if not is_done(d):
        errors.append(f"{d / DONE}: missing: the subject is incomplete (rendering did not finish)")
    try:
        meta = read_subject_meta(d)
        if domain is not None and meta["domain"] != domain:
            errors.append(f"{d / 'subject.json'}: domain: {meta['domain']!r}, but the folder is in {domain!r}")
    except DataError as e:
        errors.append(str(e))
        meta = None
    try:
        width, height, views = read_cameras(d)
    except DataError as e:
        return errors + [str(e)]
    dom = domain or (meta or {}).get("domain")
    for i, v in enumerate(views):
        if (dom == "prior") != (v.group == "prior"):
            errors.append(f"{d / 'cameras.json'}: views[{i}].group: {v.group!r} is not allowed in domain {dom!r}")
    try:
        read_params(d, len(views))
    except DataError as e:
        errors.append(str(e))
    ids = {v.id for v in views}
    for sub, reader in (("images", read_image), ("masks", read_mask)):
        for v in views:
            try:
                arr = reader(d / sub / f"{v.id}.png", width, height)
                if sub == "images" and arr[..., 3].max() == 0:
                    errors.append(f"{d / sub / f'{v.id}.png'}: alpha: empty (the head is not in view)")
            except DataError as e:
                errors.append(str(e))
        extra = sorted(p.name for p in (d / sub).glob("*.png") if p.stem not in ids)
        if extra:
            errors.append(f"{d / sub}: files without a view in cameras.json: {', '.join(extra)}")
    return errors


def validate_domain(domain_dir: str | Path) -> list[str]:
    """Manifest + every listed subject + digests; [] when valid."""
    d = Path(domain_dir)
    try:
        m = read_manifest(d)
    except DataError as e:
        return [str(e)]
    errors = []
    for s in m["subjects"]:
        sd = d / s
        if not sd.is_dir():
            errors.append(f"{d / 'manifest.json'}: subjects: {s!r} has no folder {sd}")
            continue
        errs = validate_subject(sd, m["domain"])
        errors += errs
        if not errs and subject_digest(sd) != m["sha256"][s]:
            errors.append(f"{d / 'manifest.json'}: sha256.{s}: does not match the files of {sd} (changed after "
                          f"the manifest was written)")
    unlisted = sorted(p.name for p in d.iterdir() if p.is_dir() and SUBJECT_ID.match(p.name)
                      and p.name not in m["subjects"])
    if unlisted:
        errors.append(f"{d / 'manifest.json'}: subjects: folders not listed: {', '.join(unlisted)}")
    return errors


def validate(path: str | Path) -> list[str]:
    """Validate a subject folder, a domain folder (has manifest.json) or a root of domain folders."""
    p = Path(path)
    if not p.exists():
        return [f"{p}: not found"]
    if (p / "cameras.json").exists() or (p / "subject.json").exists():
        return validate_subject(p)
    if (p / "manifest.json").exists():
        return validate_domain(p)
    domains = [p / dom for dom in DOMAINS if (p / dom).is_dir()]
    if not domains:
        return [f"{p}: neither a subject folder, a domain folder with manifest.json, nor a dataset root "
                f"with {' or '.join(DOMAINS)}/"]
    return [e for dd in domains for e in validate_domain(dd)]
