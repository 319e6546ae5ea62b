"""Hair as geometry: a displaced shell over the scalp, and its strand-textured colour.

`hairline(points, regions, anatomy, hair).cover() -> (N,)` says where hair grows (0..1, soft hairline);
`shell(verts (B,V,3), faces, offset (V,), vertices (K,)) -> the shell's vertices (B,K,3)` offsets the posed head
along its normals, so the shell follows every expression and pose. Thickness tapers to a fraction of a
millimetre at the hairline, so the shell meets the skin there; bald subjects get no shell.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from scipy import sparse

from synth.albedo import Anatomy, distance_within
from synth.noise import smoothstep, wave_noise

NO_HAIR = ("eyes", "lips", "mouth", "brows", "ears")
_EPS = 0.0006  # metres: keeps the shell's edge just above the skin


def vertex_regions(faces: np.ndarray, face_regions: np.ndarray, n_verts: int) -> np.ndarray:
    """(V,) region name per vertex for `hairline`: a vertex may carry hair only if none of its faces
    is the face or a no-hair region (those win over "scalp")."""
    regions = np.full(n_verts, "scalp", dtype=object)
    for r in ("face",) + NO_HAIR:
        regions[np.unique(faces[face_regions == r])] = r
    return regions.astype(str)


@dataclasses.dataclass
class Hairline:
    """Where hair may grow at N points: `height` (N,) elevation above the hairline in radians, and
    `allowed` (N,) 0..1 (off on the brows, the ears and the no-hair regions). One field serves every
    coverage the subject needs (shell edge, painted scalp, volume ramp)."""
    height: np.ndarray
    allowed: np.ndarray

    def cover(self, lower: float = 0.0, ramp: float = 0.14) -> np.ndarray:
        """Coverage (N,): 1 under full hair, 0 on bare skin. `lower` (radians) moves the whole line
        down (the painted scalp reaches a little below the shell's edge, so the edge sits on
        hair-coloured skin); `ramp` (radians of elevation) is how far above the line coverage reaches 1."""
        return smoothstep(-0.04, ramp, self.height + lower) * self.allowed


def hairline(P: np.ndarray, regions: np.ndarray, an: Anatomy, hair: dict) -> Hairline:
    """The hairline at template points P (N,3) with region names `regions` (N,).

    The line is an elevation angle per azimuth about the head centre: high at the front
    (forehead; lowered by a fringe, raised by `hairline`), receding at the temples, above the ears,
    and reaching down the back to the nape or, for long hair, the neck; slightly irregular. Hair
    thins out around the ears. Bald subjects get hair nowhere.
    """
    if hair["bald"]:
        return Hairline(np.zeros(len(P)), np.zeros(len(P)))
    rng = np.random.default_rng(hair["noise_seed"] + 2)
    az = np.arctan2(P[:, 0], P[:, 2])                       # 0 front, +-pi back
    el = np.arctan2(P[:, 1], np.hypot(P[:, 0], P[:, 2]))
    a = np.abs(az)
    front = 0.62 + 4.0 * hair["hairline"] - 0.3 * hair["fringe"]
    side = 0.42 - 0.15 * hair["length"]
    back = -0.45 - 0.75 * hair["length"]
    line = np.interp(a, [0.0, 0.55, 1.2, 1.75, 2.4, np.pi], [front, front, side, side, back, back])
    line += 0.25 * hair["temples"] * np.exp(-((a - 0.75) / 0.25) ** 2)  # receding temples
    line += 0.04 * wave_noise(P, rng, 0.03, octaves=2)
    brow_top = an.brow_points[:, 1].max() + 0.008
    # no hair on the forehead below the brows' top; the temples, behind the brows' tails, keep theirs
    toward_face = smoothstep(0.035, 0.06, P[:, 2])
    allowed = 1.0 - toward_face * (1.0 - smoothstep(brow_top, brow_top + 0.01, P[:, 1]))
    allowed *= smoothstep(0.004, 0.03, distance_within(P, an.ear_points, 0.03))
    return Hairline(el - line, allowed * ~np.isin(regions, NO_HAIR))


def thickness(P: np.ndarray, cover: np.ndarray, hair: dict, taper: np.ndarray | float = 1.0) -> np.ndarray:
    """Shell offset (N,) in metres: volume at the crown, less at the sides, broad soft clumps, and a
    smooth ramp to ~0 at the hairline (`cover` should ramp wide, so hair lies flat there) and toward
    the shell's edge (`taper` (N,), edge_taper)."""
    rng = np.random.default_rng(hair["noise_seed"])
    el = np.arctan2(P[:, 1], np.hypot(P[:, 0], P[:, 2]))
    profile = 0.55 + 0.45 * smoothstep(-0.2, 0.9, el)
    back_low = smoothstep(-0.3, -0.05, -P[:, 2]) * (1 - smoothstep(-0.6, 0.2, el)) * hair["length"]
    clumps = 1 + 0.25 * hair["clump"] * wave_noise(P, rng, 0.04, octaves=3)
    t = hair["volume"] * (profile + 0.8 * back_low) * clumps
    return _EPS + taper * smoothstep(0.0, 1.0, cover) * np.maximum(t, 0)


def edge_taper(P: np.ndarray, faces: np.ndarray, keep: np.ndarray, reach: float = 0.012) -> np.ndarray:
    """(N,) 0 on the boundary of the shell made of the faces `keep`, rising to 1 at `reach` metres inside.

    The hairline ramps the thickness down, but where coverage is cut (the brows' top at the temples,
    the ears) full-thickness hair would end in a step whose dark underside shows from the front.
    """
    sub = faces[keep].astype(np.int64)
    pairs = np.sort(np.concatenate([sub[:, [0, 1]], sub[:, [1, 2]], sub[:, [2, 0]]]), 1)
    keys, uses = np.unique(pairs[:, 0] * len(P) + pairs[:, 1], return_counts=True)  # an edge of one face
    boundary = np.unique(np.concatenate([keys[uses == 1] // len(P), keys[uses == 1] % len(P)]))
    if len(boundary) == 0:
        return np.ones(len(P))
    return smoothstep(0.0, reach, distance_within(P, P[boundary], reach))


def vertex_normals(verts: np.ndarray, faces: np.ndarray, vertices: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted unit vertex normals of (B,V,3) meshes -> (B,V,3), or (B,K,3) for the K vertex
    indices `vertices` only (faces that touch none of them are skipped: the hair shell needs a third
    of the head)."""
    B, V, _ = verts.shape
    if vertices is not None:
        faces = faces[np.isin(faces, vertices).any(1)]
    tri = verts.astype(np.float32)[:, faces]  # (B,F,3,3); float32 halves the memory traffic
    e1, e2 = tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0]
    # the cross product written out: np.cross is several times slower on (B,F,3)
    fn = np.stack([e1[..., 1] * e2[..., 2] - e1[..., 2] * e2[..., 1],
                   e1[..., 2] * e2[..., 0] - e1[..., 0] * e2[..., 2],
                   e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]], -1)  # (B,F,3), length = 2 * area
    incidence = sparse.csr_matrix((np.ones(faces.size, np.float32), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))),
                                  shape=(V, len(faces)))
    if vertices is not None:
        incidence = incidence[vertices]
    n = (incidence @ fn.transpose(1, 0, 2).reshape(len(faces), -1)).reshape(-1, B, 3).transpose(1, 0, 2)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def shell_faces(faces: np.ndarray, cover_v: np.ndarray) -> np.ndarray:
    """Indices of the faces that carry hair: every corner has coverage."""
    return np.flatnonzero((cover_v[faces] > 0.02).all(1))


def shell(verts: np.ndarray, faces: np.ndarray, offset_v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Posed head verts (B,V,3) -> the shell's positions (B,K,3) at the K vertex indices `vertices`,
    offset along the posed normals by offset_v (V,)."""
    return verts[:, vertices] + vertex_normals(verts, faces, vertices) * offset_v[None, vertices, None]


def paint_hair(P: np.ndarray, cover: np.ndarray, hair: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hair colour at template points P (N,3) with coverage (N,): (rgb (N,3), roughness (N,), height (N,)).

    Strands radiate from the crown (shifted sideways by the parting): the pattern varies across the
    flow (azimuth about the crown axis, a few millimetres per strand group) and slowly along it.
    Frequencies stay below the texel and pixel spacing, so nothing aliases into moire.
    """
    rng = np.random.default_rng(hair["noise_seed"] + 1)
    base = np.asarray(hair["rgb"])
    rgb = np.tile(base, (len(P), 1))
    rough = np.full(len(P), 0.35)
    height = np.full(len(P), 0.5)
    on = cover > 0
    Q = P[on]
    axis = np.array([0.25 * hair["part"], 1.0, -0.25])
    axis /= np.linalg.norm(axis)
    e1 = np.cross(axis, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    polar = np.arccos(np.clip(Q @ axis / np.linalg.norm(Q, axis=1), -1, 1))
    az = np.arctan2(Q @ e2, Q @ e1) + 0.08 * wave_noise(Q, rng, 0.08, octaves=2)
    k = int(hair["strand_freq"])
    strands = sum(w * np.sin(az * round(k * f) + rng.uniform(0, 2 * np.pi))
                  for f, w in ((1.0, 0.5), (1.618, 0.3), (2.718, 0.2)))
    strands *= smoothstep(0.15, 0.45, polar)  # the whorl at the crown would alias
    lowfreq = wave_noise(Q, rng, 0.04, octaves=2)
    shade = (0.75 + 0.2 * strands + 0.1 * lowfreq) * (0.75 + 0.25 * cover[on])
    rgb[on] = base[None] * shade[:, None]
    rough[on] = 0.55 + 0.08 * lowfreq
    height[on] = 0.5 + 0.5 * strands
    return rgb.clip(0.003, 0.95), rough.clip(0.1, 0.9), height
