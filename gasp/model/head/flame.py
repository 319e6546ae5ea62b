"""FLAME-format model files: load into `HeadArrays` (same interface as the procedural head) and save.

Keys (FLAME's names): v_template (V,3), f (F,3), shapedirs (V,3,K) = identity then expression
components, posedirs (V,3,9*(J-1)), J_regressor (J,V) (dense or scipy sparse), weights (V,J),
kintree_table (2,J) (row 0: parents, root's any negative or >= J), vt (T,2), ft (F,3).
Optional: n_shape (identity components in shapedirs; FLAME's 300 when absent), region_names +
face_regions (F,), landmark_names + lmk_faces_idx (L,) + lmk_b_coords (L,3).
Formats: .npz, or a .pkl of plain numpy/scipy objects (FLAME's chumpy pickles: convert to .npz first).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from gasp.io import atomic_path
from gasp.model.head.model import JOINTS, REGIONS, HeadArrays

FLAME_N_SHAPE = 300


class FlameFormatError(ValueError):
    """The model file is unusable; the message names the file and the field."""


def _read(path: Path) -> dict:
    if not path.is_file():
        raise FlameFormatError(f"{path}: no such model file (head.model_file)")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".pkl":
        try:
            with open(path, "rb") as fh:
                raw = pickle.load(fh, encoding="latin1")
        except ModuleNotFoundError as e:
            raise FlameFormatError(f"{path}: needs module {e.name!r} to unpickle; convert it to .npz") from e
        return {k: (v.toarray() if hasattr(v, "toarray") else v) for k, v in raw.items()}
    raise FlameFormatError(f"{path}: unknown model file type {path.suffix!r} (use .npz or .pkl)")


def load_flame(path, n_shape: int, n_expr: int) -> HeadArrays:
    """Read a FLAME-format file; keep the first n_shape identity and n_expr expression components."""
    path = Path(path)
    data = _read(path)

    def get(key, ndim, shape=None, dtype=np.float64):
        if key not in data:
            raise FlameFormatError(f"{path}: missing field {key!r}")
        a = np.asarray(data[key], dtype=dtype)
        bad = a.ndim != ndim or (shape and any(s is not None and s != n for s, n in zip(shape, a.shape)))
        if bad:
            want = "x".join("?" if s is None else str(s) for s in (shape or [None] * ndim))
            raise FlameFormatError(f"{path}: field {key!r} has shape {a.shape}, expected ({want})")
        return a

    v = get("v_template", 2, (None, 3))
    V = len(v)
    f = get("f", 2, (None, 3), np.int64)
    F = len(f)
    if f.min() < 0 or f.max() >= V:
        raise FlameFormatError(f"{path}: field 'f' indexes vertices outside 0..{V - 1}")
    J = len(JOINTS)
    dirs = get("shapedirs", 3, (V, 3, None))
    ns = int(np.asarray(data["n_shape"])) if "n_shape" in data else FLAME_N_SHAPE
    if ns < n_shape or dirs.shape[2] - ns < n_expr:
        raise FlameFormatError(f"{path}: field 'shapedirs' has {ns} identity and {dirs.shape[2] - ns} expression "
                               f"components; the config asks for {n_shape} and {n_expr}")
    kin = get("kintree_table", 2, (2, J), np.int64)
    parents = np.where((kin[0] < 0) | (kin[0] >= J), -1, kin[0])
    vt = get("vt", 2, (None, 2))
    ft = get("ft", 2, (F, 3), np.int64)
    if ft.min() < 0 or ft.max() >= len(vt):
        raise FlameFormatError(f"{path}: field 'ft' indexes uvs outside 0..{len(vt) - 1}")
    regions, face_regions = REGIONS, np.zeros(F, dtype=np.int64)
    if "face_regions" in data:
        regions = tuple(str(r) for r in get("region_names", 1, None, str))
        face_regions = get("face_regions", 1, (F,), np.int64)
    landmarks = {}
    if "lmk_faces_idx" in data:
        names = [str(n) for n in get("landmark_names", 1, None, str)]
        L = len(names)
        idx = get("lmk_faces_idx", 1, (L,), np.int64)
        bary = get("lmk_b_coords", 2, (L, 3))
        landmarks = {n: (int(i), b) for n, i, b in zip(names, idx, bary)}
    return HeadArrays(
        template=v, faces=f, uvs=vt, uv_faces=ft, face_regions=face_regions,
        shapedirs=dirs[:, :, :n_shape], exprdirs=dirs[:, :, ns:ns + n_expr],
        posedirs=get("posedirs", 3, (V, 3, 9 * (J - 1))), J_regressor=get("J_regressor", 2, (J, V)),
        weights=get("weights", 2, (V, J)), parents=parents, regions=regions, landmarks=landmarks)


def save_flame(arrays: HeadArrays, path) -> None:
    """Write arrays as a FLAME-format .npz (with the optional region and landmark fields)."""
    a = arrays
    names = list(a.landmarks)
    out = {
        "v_template": a.template, "f": a.faces, "shapedirs": np.concatenate([a.shapedirs, a.exprdirs], -1),
        "n_shape": np.array(a.shapedirs.shape[-1]), "posedirs": a.posedirs, "J_regressor": a.J_regressor,
        "weights": a.weights, "kintree_table": np.stack([np.where(a.parents < 0, 2**32 - 1, a.parents),
                                                          np.arange(len(a.parents))]),
        "vt": a.uvs, "ft": a.uv_faces, "region_names": np.array(a.regions), "face_regions": a.face_regions,
        "landmark_names": np.array(names), "lmk_faces_idx": np.array([a.landmarks[n][0] for n in names]),
        "lmk_b_coords": np.array([a.landmarks[n][1] for n in names]).reshape(-1, 3)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **out)
