"""Triangle rasterization in 2D and the UV binding of Gaussians to the head mesh.

`uv_binding(model, R)` puts one Gaussian at every texel centre of the R x R UV map that falls inside
a UV triangle: (face id, barycentrics, region, uv). Row 0 of the map is v = 1 (image convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Binding:
    """face_ids (N,) long, barys (N,3) float32, regions (N,) long, uv (N,2) float32 texel centres."""
    face_ids: torch.Tensor
    barys: torch.Tensor
    regions: torch.Tensor
    uv: torch.Tensor

    def __len__(self) -> int:
        return len(self.face_ids)


def rasterize_triangles(tri: np.ndarray, width: int, height: int):
    """Every (pixel, triangle) pair whose pixel centre (x + 0.5, y + 0.5) lies in the triangle.

    tri (F,3,2) pixel coordinates (x right, y down) -> pix (K,) = y * width + x, face (K,),
    bary (K,3) float64; edges count as inside (a centre on a shared edge is reported for both).
    """
    tri = np.asarray(tri, dtype=np.float64)
    lo = np.clip(np.ceil(tri.min(1) - 0.5), 0, [width, height]).astype(np.int64)
    hi = np.clip(np.floor(tri.max(1) - 0.5), -1, [width - 1, height - 1]).astype(np.int64)
    n = np.maximum(hi - lo + 1, 0)
    count = n[:, 0] * n[:, 1]
    face = np.repeat(np.arange(len(tri)), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    nx = n[face, 0]
    px = lo[face, 0] + k % np.maximum(nx, 1)
    py = lo[face, 1] + k // np.maximum(nx, 1)
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    v0, v1 = b - a, c - a
    v2 = np.stack([px + 0.5, py + 0.5], -1) - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    l0 = 1.0 - l1 - l2
    eps = -1e-9
    inside = ok & (l0 >= eps) & (l1 >= eps) & (l2 >= eps)
    bary = np.stack([l0, l1, l2], -1)[inside]
    return py[inside] * width + px[inside], face[inside], bary


def uv_binding(model, resolution: int) -> Binding:
    """Gaussians of a `HeadModel` at UV resolution R, ordered by texel (row-major from the top)."""
    R = int(resolution)
    uv = model.uvs.detach().cpu().numpy().astype(np.float64)[model.uv_faces.cpu().numpy()]    # (F,3,2)
    tri = np.stack([uv[..., 0] * R, (1.0 - uv[..., 1]) * R], -1)
    pix, face, bary = rasterize_triangles(tri, R, R)
    order = np.lexsort((face, pix))                     # a texel on a shared edge goes to the lower face id
    pix, face, bary = pix[order], face[order], bary[order]
    first = np.concatenate([[True], pix[1:] != pix[:-1]])
    pix, face, bary = pix[first], face[first], np.clip(bary[first], 0.0, None)
    bary /= bary.sum(1, keepdims=True)
    texel_uv = np.stack([(pix % R + 0.5) / R, 1.0 - (pix // R + 0.5) / R], -1)
    face_t = torch.as_tensor(face, dtype=torch.long)
    return Binding(face_ids=face_t, barys=torch.as_tensor(bary, dtype=torch.float32),
                   regions=model.face_regions.cpu()[face_t], uv=torch.as_tensor(texel_uv, dtype=torch.float32))
