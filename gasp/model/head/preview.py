"""Diagnostic contact sheet of a head model (not part of the pipeline's rendering).

A numpy z-buffer shades sampled identities x expressions from the front, three-quarter, side and
back under a directional key light, and the UV atlas is drawn coloured by region.
"""
from __future__ import annotations

import numpy as np
import torch

from gasp.model.head.model import axis_angle_to_matrix
from gasp.model.head.uv import rasterize_triangles

REGION_COLOURS = {"face": (0.86, 0.68, 0.58), "scalp": (0.35, 0.26, 0.2), "ears": (0.9, 0.6, 0.55),
                  "neck": (0.78, 0.62, 0.54), "eyes": (0.95, 0.95, 0.95), "lips": (0.75, 0.35, 0.38),
                  "brows": (0.3, 0.2, 0.15), "mouth": (0.35, 0.08, 0.1)}
VIEWS = {"front": 0.0, "three-quarter": 40.0, "side": 90.0, "back": 180.0}


def shade(verts: np.ndarray, faces: np.ndarray, colours: np.ndarray, yaw_deg: float, size: int = 256,
          extent: float = 0.22) -> np.ndarray:
    """Orthographic render of verts (V,3) / faces (F,3) with per-face colours (F,3), camera yawed
    around +Y by yaw_deg (0 = looking at the face) -> RGB (size,size,3) on white."""
    t = np.radians(yaw_deg)
    rot = np.array([[np.cos(t), 0, -np.sin(t)], [0, 1, 0], [np.sin(t), 0, np.cos(t)]])
    v = (verts - [0, -0.03, 0]) @ rot.T
    tri = v[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, faces[:, k], n)                        # area-weighted vertex normals
    vn /= np.maximum(np.linalg.norm(vn, axis=-1, keepdims=True), 1e-12)
    light = np.array([0.5, 0.6, 0.62])
    light /= np.linalg.norm(light)
    xy = (tri[..., :2] * [1, -1] / (2 * extent) + 0.5) * size
    pix, face, bary = rasterize_triangles(xy, size, size)
    depth = (bary * tri[face, :, 2]).sum(1)
    front = n[face, 2] > 0
    pix, face, bary, depth = pix[front], face[front], bary[front], depth[front]
    order = np.lexsort((-depth, pix))
    pix, face, bary = pix[order], face[order], bary[order]
    first = np.concatenate([[True], pix[1:] != pix[:-1]])
    pix, face, bary = pix[first], face[first], bary[first]
    normal = (bary[:, :, None] * vn[faces[face]]).sum(1)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    lum = 0.25 + 0.75 * np.clip(normal @ light, 0, None)
    img = np.ones((size * size, 3))
    img[pix] = colours[face] * lum[:, None]
    return img.reshape(size, size, 3)


def uv_image(uvs: np.ndarray, uv_faces: np.ndarray, colours: np.ndarray, size: int = 512) -> np.ndarray:
    """The UV atlas (F triangles) painted with per-face colours (F,3) -> RGB (size,size,3)."""
    tri = uvs[uv_faces]
    xy = np.stack([tri[..., 0] * size, (1 - tri[..., 1]) * size], -1)
    pix, face, _ = rasterize_triangles(xy, size, size)
    img = np.ones((size * size, 3))
    img[pix] = colours[face]
    return img.reshape(size, size, 3)


def contact_sheet(model, path, n_subjects: int = 4, seed: int = 0, size: int = 220) -> None:
    """Write a PNG: rows = sampled identities, each with a different expression/jaw pose (row 0 is
    the neutral mean head), columns = VIEWS, plus the UV layout coloured by region."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gasp.io import atomic_path

    g = torch.Generator().manual_seed(seed)
    p = model.zeros(n_subjects)
    p["shape"][1:] = torch.randn(n_subjects - 1, model.n_shape, generator=g)
    p["expr"][1:] = 0.8 * torch.randn(n_subjects - 1, model.n_expr, generator=g)
    p["jaw"][1:, 0] = torch.linspace(0.05, 0.3, n_subjects - 1)
    p["neck"][1:] = 0.1 * torch.randn(n_subjects - 1, 3, generator=g)
    with torch.no_grad():
        verts = model.verts(**p).numpy()
    faces = model.faces.numpy()
    names = list(model.regions)
    colours = np.array([REGION_COLOURS.get(n, (0.7, 0.7, 0.7)) for n in names])[model.face_regions.numpy()]
    nv = len(VIEWS)
    fig = plt.figure(figsize=(2.3 * nv + 2.3 * n_subjects, 2.3 * n_subjects))
    gs = fig.add_gridspec(n_subjects, nv + 1, width_ratios=[1] * nv + [n_subjects])
    for r in range(n_subjects):
        for c, (view, yaw) in enumerate(VIEWS.items()):
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(shade(verts[r], faces, colours, yaw, size, extent=0.15))
            ax.set_axis_off()
            if r == 0:
                ax.set_title(view, fontsize=9)
    big = fig.add_subplot(gs[:, nv])
    big.imshow(uv_image(model.uvs.numpy(), model.uv_faces.numpy(), colours))
    big.set_title("UV layout by region", fontsize=9)
    big.set_axis_off()
    handles = [plt.Rectangle((0, 0), 1, 1, color=REGION_COLOURS.get(n, (0.7, 0.7, 0.7))) for n in names]
    big.legend(handles, names, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
