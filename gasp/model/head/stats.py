"""Mesh and UV checks of a head model: closedness, UV overlap, texel density, Gaussian count."""
from __future__ import annotations

import numpy as np

from gasp.model.head.uv import rasterize_triangles, uv_binding


def edge_check(faces: np.ndarray) -> dict[str, bool]:
    """faces (F,3) -> {"watertight": every edge has exactly two faces, "manifold": the two use it in
    opposite directions (consistent orientation) and every vertex fan is a single disk}."""
    f = np.asarray(faces, dtype=np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = np.sort(e, 1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    watertight = bool((cnt == 2).all())
    directed = np.unique(e, axis=0)
    oriented = len(directed) == len(e)                   # no directed edge used twice
    # vertex fans: faces around a vertex form one cycle iff #faces == #distinct neighbours
    n_v = f.max() + 1
    fan = np.bincount(f.ravel(), minlength=n_v)
    nb = np.unique(np.concatenate([e, e[:, ::-1]]), axis=0)
    deg = np.bincount(nb[:, 0], minlength=n_v)
    return {"watertight": watertight, "manifold": bool(watertight and oriented and (fan == deg).all())}


def uv_overlap_texels(uvs: np.ndarray, uv_faces: np.ndarray, resolution: int) -> int:
    """Texel centres strictly inside more than one UV triangle, plus flipped/degenerate triangles."""
    tri = np.asarray(uvs, dtype=np.float64)[uv_faces] * resolution
    a = 0.5 * ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
               - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1]))
    pix, _, bary = rasterize_triangles(tri, resolution, resolution)
    strict = pix[(bary > 1e-6).all(1)]
    return int((np.bincount(strict) > 1).sum() + (a <= 0).sum())


def texel_density_ratio(model) -> float:
    """Linear texel density (sqrt of UV area per surface area) of the "face" region over that of
    the back of the head (scalp behind the ears)."""
    v = model.template.numpy().astype(np.float64)
    f = model.faces.numpy()
    uv = model.uvs.numpy().astype(np.float64)[model.uv_faces.numpy()]
    area3 = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=-1)
    d = uv[:, 1:] - uv[:, :1]
    area_uv = 0.5 * np.abs(d[:, 0, 0] * d[:, 1, 1] - d[:, 0, 1] * d[:, 1, 0])
    reg = model.face_regions.numpy()
    face = reg == model.region_id("face")
    back = (reg == model.region_id("scalp")) & (v[f].mean(1)[:, 2] < -0.02)
    dens = lambda m: area_uv[m].sum() / area3[m].sum()  # noqa: E731
    return float(np.sqrt(dens(face) / dens(back)))


def head_stats(model, resolution: int) -> dict:
    """The numbers `gasp head stats` prints."""
    faces = model.faces.numpy()
    checks = edge_check(faces)
    return {"vertices": int(model.template.shape[0]), "faces": int(len(faces)),
            "identity_components": model.n_shape, "expression_components": model.n_expr,
            "uv_resolution": int(resolution), "gaussians": len(uv_binding(model, resolution)),
            "watertight": checks["watertight"], "manifold": checks["manifold"],
            "uv_overlap": uv_overlap_texels(model.uvs.numpy(), model.uv_faces.numpy(), resolution),
            "face_back_texel_density_ratio": round(texel_density_ratio(model), 3),
            "regions": {n: int((model.face_regions == i).sum()) for i, n in enumerate(model.regions)},
            "landmarks": len(model.landmarks)}
