"""Procedural skin, eyes, lips, brows and facial hair, painted at surface points of the template.

`paint_head(points (N,3), template_points (N,3), regions (N,) names, anatomy, appearance, hair_cover (N,),
hair) -> (rgb (N,3) linear, roughness (N,))`. Points are texel centres mapped onto the subject's neutral
surface and onto the model's template (synth.assets puts them into UV images), so every pattern is
continuous across UV seams. Brows, lips and the eyes' openings are outlines drawn in the template's frame:
they stay on the brow ridge, the lips' relief and the lids whatever the identity, and their edges are
smooth curves, not the mesh's rows (falloffs around region vertices painted the lips as dots, the brows
as blocks and the whites of the eyes as spiky stars).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from synth.noise import smoothstep, wave_noise


LASH_RGB = np.array([0.02, 0.015, 0.012])  # lashes and the lid margin's shadow (linear)


@dataclasses.dataclass(frozen=True)
class Anatomy:
    """Feature positions on the subject's neutral mesh (head frame, metres).

    pupils (2,3) left (+x) first; nose_tip, mouth_centre (3,); eye_points (K,3), brow_points (B,3),
    ear_points (A,3): vertices of those regions, for soft distance falloffs.
    In the template's frame (where outlines are drawn, at template points): brow_lines (2,3,3) inner,
    middle and outer brow landmark per side, left first; mouth_corners (2,3) left first; eye_corners
    (2,4,3) inner, outer, upper and lower lid landmark per side, left first.
    """
    pupils: np.ndarray
    nose_tip: np.ndarray
    mouth_centre: np.ndarray
    eye_points: np.ndarray
    brow_points: np.ndarray
    ear_points: np.ndarray
    brow_lines: np.ndarray
    mouth_corners: np.ndarray
    eye_corners: np.ndarray


def measure_anatomy(model, verts: np.ndarray) -> Anatomy:
    """Anatomy of a HeadModel posed as `verts` (V,3), from its landmarks and face regions (and, for the
    outlines, the landmarks of its template)."""
    import torch

    def landmarks(v):
        return {k: p[0].numpy().astype(np.float64)
                for k, p in model.landmark_points(torch.as_tensor(v, dtype=torch.float32)[None]).items()}

    lm, lm_t = landmarks(verts), landmarks(model.template)
    faces, regions = model.faces.numpy(), model.face_regions.numpy()

    def region_verts(*names):
        keep = np.isin(regions, [model.region_id(n) for n in names])
        return verts[np.unique(faces[keep])]

    brow = lambda s: [lm_t[f"brow_{k}_{s}"] for k in ("inner", "mid", "outer")]  # noqa: E731
    eye = lambda s: [lm_t[f"eye_{k}_{s}"] for k in ("inner", "outer", "upper", "lower")]  # noqa: E731
    return Anatomy(pupils=np.stack([lm["pupil_l"], lm["pupil_r"]]), nose_tip=lm["nose_tip"],
                   mouth_centre=(lm["mouth_corner_l"] + lm["mouth_corner_r"] + lm["upper_lip"] + lm["lower_lip"]) / 4,
                   eye_points=region_verts("eyes"), brow_points=region_verts("brows"),
                   ear_points=region_verts("ears"), brow_lines=np.array([brow("l"), brow("r")]),
                   mouth_corners=np.stack([lm_t["mouth_corner_l"], lm_t["mouth_corner_r"]]),
                   eye_corners=np.array([eye("l"), eye("r")]))


def nearest_within(points: np.ndarray, targets: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) to the nearest target and its index (N,); inf and len(targets) beyond `reach`: every
    falloff below is flat beyond its reach, and most texels are far from any one feature, so only those
    in its padded box are searched."""
    near = np.all((points >= targets.min(0) - reach) & (points <= targets.max(0) + reach), axis=1)
    d, i = np.full(len(points), np.inf), np.full(len(points), len(targets))
    d[near], i[near] = cKDTree(targets).query(points[near], k=1, distance_upper_bound=reach)
    return d, i


def distance_within(points: np.ndarray, targets: np.ndarray, reach: float) -> np.ndarray:
    """Distance (N,) to the nearest target, inf beyond `reach` (nearest_within)."""
    return nearest_within(points, targets, reach)[0]


def _mix(a: np.ndarray, b, t) -> np.ndarray:
    t = np.asarray(t, float)
    return a * (1 - t[..., None]) + np.asarray(b) * t[..., None]


def _blob(points, centre, radius):
    d = points - centre
    return np.exp(np.einsum("ij,ij->i", d, d) / (-2 * radius**2))


def lip_weight(T: np.ndarray, an: Anatomy) -> np.ndarray:
    """0..1 vermilion coverage at template points T (N,3): upper and lower lip outlines in the mouth's
    frame (u = x / half the mouth's width), closing at the corners, with a Cupid's bow and a soft edge.

    The heights (0.42 and 0.5 of the half width at the centre) follow the template's lip relief."""
    centre = an.mouth_corners.mean(0)
    half_w = 0.5 * np.linalg.norm(an.mouth_corners[0] - an.mouth_corners[1])
    rel = T - centre
    u = rel[:, 0] / half_w
    inside = np.clip(1 - u * u, 0, 1)
    bow = 1 - 0.10 * np.exp(-(u / 0.1) ** 2) + 0.05 * np.exp(-((np.abs(u) - 0.24) / 0.1) ** 2)
    top = 0.42 * half_w * inside**0.35 * bow
    bottom = 0.50 * half_w * inside**0.45
    edge = 0.0007
    w = (1 - smoothstep(top - edge, top + edge, rel[:, 1])) * smoothstep(-bottom - edge, -bottom + edge, rel[:, 1])
    return w * (np.abs(u) < 1.05) * (rel[:, 2] > -0.02)


def eye_opening_weight(T: np.ndarray, an: Anatomy) -> np.ndarray:
    """0..1 at template points T (N,3): inside the almond between each eye's corners and lid landmarks
    (drawn 5% inside them, where the eyeball shows whatever the mesh's rows do at the lid margin)."""
    out = np.zeros(len(T))
    for inner, outer, upper, lower in an.eye_corners:
        c = 0.5 * (inner + outer)[:2]
        width = np.linalg.norm((outer - inner)[:2])
        e = (outer - inner)[:2] / width
        n = np.array([-e[1], e[0]]) * np.sign(e[0])  # up on both sides
        rel = T[:, :2] - c
        u = (rel @ e) / (0.95 * 0.5 * width)
        v = rel @ n
        inside = np.clip(1 - u * u, 0, 1)
        top, bottom = 0.95 * (upper[:2] - c) @ n * inside**0.55, 0.95 * (c - lower[:2]) @ n * inside**0.7
        edge = 0.0004
        w = (1 - smoothstep(top - edge, top + edge, v)) * smoothstep(-bottom - edge, -bottom + edge, v)
        out = np.maximum(out, w * (np.abs(u) < 1) * (np.abs(T[:, 0] - c[0]) < 0.03))
    return out


def brow_weight(T: np.ndarray, an: Anatomy, app: dict, rng: np.random.Generator) -> np.ndarray:
    """0..1 brow coverage at template points T (N,3): a band along the curve through each side's inner,
    middle and outer brow landmarks, thick at the head and tapering to the tail, crisper below than
    above, with hair strands that rise at the head and run outward along the rest. The subject's
    brow_thickness, brow_arch and brow_tail (metres: the middle and the outer point raised) and
    brow_length (of the tail, 1 = at the outer landmark) shape it: brows carry much of a face's identity."""
    out = np.zeros(len(T))
    t = np.linspace(-0.1, 1.12, 160)
    thickness, length = app["brow_thickness"], app["brow_length"]
    for line in an.brow_lines:
        # the quadratic through the three landmarks at t = 0, 0.5, 1, continued a little past both ends
        a, b, c = line + np.array([[0.0, 0.0, 0.0], [0.0, app["brow_arch"], 0.0], [0.0, app["brow_tail"], 0.0]])
        curve = a[None] * ((1 - t) * (1 - 2 * t))[:, None] + b[None] * (4 * t * (1 - t))[:, None] \
            + c[None] * (t * (2 * t - 1))[:, None]
        half_h = thickness * (0.0048 - 0.0032 * smoothstep(0.25, length, t))
        dist, k = nearest_within(T, curve, 0.012)
        near = np.flatnonzero(np.isfinite(dist))
        k, P = k[near], T[near]
        tangent = np.gradient(curve, axis=0)[k]
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        up = np.array([0.0, 1.0, 0.0]) - tangent[:, 1:2] * tangent
        up /= np.linalg.norm(up, axis=1, keepdims=True)
        d = P - curve[k]
        dy, s = np.einsum("ij,ij->i", d, up), t[k] * np.linalg.norm(c - a) + np.einsum("ij,ij->i", d, tangent)
        h = half_h[k]
        band = smoothstep(-h - 0.0006, -h + 0.0004, dy) * (1 - smoothstep(h - 0.0012, h + 0.0008, dy))
        ends = smoothstep(-0.1, 0.0, t[k]) * (1 - smoothstep(length - 0.1, length + 0.02, t[k]))
        # strands: stripes across the hair's direction, which turns from upward (head) to outward (tail)
        angle = np.radians(70.0) * (1 - smoothstep(0.0, 0.3, t[k])) + np.radians(12.0)
        along = s * np.cos(angle) + dy * np.sin(angle)
        across = -s * np.sin(angle) + dy * np.cos(angle)
        strands = smoothstep(-0.8, 0.8, wave_noise(np.stack([along, across, np.zeros_like(s)], 1), rng, 0.0035,
                                                    octaves=2, anisotropy=(0.12, 1.0, 0.0)))
        out[near] = np.maximum(out[near], band * ends * (0.75 + 0.25 * strands))
    return out


def paint_head(points: np.ndarray, template_points: np.ndarray, regions: np.ndarray, an: Anatomy, app: dict,
               hair_cover: np.ndarray, hair: dict) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (N,3) linear RGB and roughness (N,) at `points` (N,3) with region names `regions` (N,);
    `template_points` (N,3) are the same surface points on the model's template."""
    rng = np.random.default_rng(app["noise_seed"])
    P = points
    skin = np.asarray(app["skin_rgb"])
    hair_rgb = np.asarray(hair["rgb"])
    rgb = np.tile(skin, (len(P), 1))
    is_ = {r: regions == r for r in ("face", "scalp", "ears", "neck", "eyes", "lips", "brows", "mouth")}

    # low-frequency blotches (per-channel, mostly luminance) and fine mottling
    blotch = wave_noise(P, rng, app["blotch_scale"] * 4, octaves=3)
    tint = wave_noise(P, rng, app["blotch_scale"] * 6, octaves=2)
    rgb *= np.exp(app["blotch_strength"] * (blotch[:, None] + 0.5 * tint[:, None] * np.array([1.0, -0.3, -0.8])))
    rgb *= np.exp(0.04 * wave_noise(P, rng, 0.004, octaves=2))[:, None]

    # redness: cheeks, nose, ears; slightly darker, less red neck
    eye_mid = an.pupils.mean(0)
    cheeks = sum(_blob(P, c + np.array([np.sign(c[0]) * 0.012, -0.035, 0.0]), 0.016) for c in an.pupils)
    red = app["redness"] * (cheeks + 0.8 * _blob(P, an.nose_tip, 0.012) + 0.5 * is_["ears"])
    rgb = _mix(rgb, skin * np.array([1.15, 0.62, 0.6]), np.clip(red, 0, 1))
    rgb[is_["neck"]] *= np.array([0.93, 0.92, 0.93])

    # freckles: small dark-brown spots concentrated on nose and cheeks
    if app["freckles"] > 0:
        face_pts = P[is_["face"]]
        w = cheeks[is_["face"]] + _blob(face_pts, an.nose_tip, 0.02) + 0.15
        centres = face_pts[rng.choice(len(face_pts), int(600 * app["freckles"]), p=w / w.sum())]
        d = distance_within(P, centres, 0.01)  # a spot is 1-2 mm wide
        spot = np.exp(-(d / (0.0012 * rng.uniform(0.8, 1.3))) ** 2) * is_["face"]
        rgb = _mix(rgb, skin * np.array([0.62, 0.45, 0.32]), 0.7 * spot)

    # sockets and lids: soft darkening around the eyes, the upper lid's crease, a dark lash line along
    # the lid margin
    d_eye = distance_within(P, an.eye_points, 0.01)  # the crease below reaches ~1 cm
    upper = P[:, 1] > eye_mid[1] - 0.003
    lash = (1 - smoothstep(0.0006, 0.0022 + 0.0020 * upper, d_eye)) * ~is_["eyes"]
    crease = np.exp(-(((d_eye - 0.0055) / 0.0015) ** 2)) * (P[:, 1] > eye_mid[1] + 0.002)
    socket = sum(_blob(P, c + np.array([0, 0.004, -0.008]), 0.014) for c in an.pupils)
    shade = app["eye_shadow"] * np.clip(socket, 0, 1) + 0.35 * crease
    rgb *= (1 - np.clip(shade, 0, 0.8) * ~is_["eyes"])[:, None]
    rgb = _mix(rgb, LASH_RGB, 0.9 * lash)

    # lips with a soft border; dark mouth interior
    lip_w = lip_weight(template_points, an)
    lip_rgb = skin * (1 - app["lip_darken"]) * np.array([1.0 + app["lip_red"], 0.75, 0.8])
    on = lip_w > 0  # patterns below are evaluated only where they show (same random draws)
    lip_rgb = lip_rgb * np.exp(0.06 * wave_noise(P[on], rng, 0.002, octaves=1))[:, None]
    rgb[on] = _mix(rgb[on], lip_rgb, (lip_w * ~is_["eyes"])[on])
    rgb[is_["mouth"]] = np.array([0.12, 0.025, 0.025])

    # brows: hair colour, always darker than the skin
    brow_rgb = hair_rgb * (1 - app["brow_darkness"]) + np.array([0.02, 0.015, 0.01]) * app["brow_darkness"]
    brow_rgb = np.minimum(brow_rgb, skin * 0.5)  # brows always read darker than the skin
    brow_w = brow_weight(template_points, an, app, rng) * app["brow_density"]
    on = brow_w > 0
    rgb[on] = _mix(rgb[on], brow_rgb, np.clip(brow_w[on], 0, 1) * ~is_["eyes"][on])

    # facial hair: stubble (speckled shadow) or beard (dense, strand-textured) over the lower face and upper neck
    beard = _beard_weight(P, an, app["beard"]) * ~(is_["lips"] | is_["mouth"] | is_["eyes"])
    if app["beard"] != "none":
        on = beard > 0
        speck = smoothstep(-0.3, 0.9, wave_noise(P[on], rng, 0.0012, octaves=1))
        dens = app["beard_density"] * (0.45 if app["beard"] == "stubble" else 0.95)
        colour = hair_rgb * 0.8 + 0.02 if app["beard"] != "stubble" else hair_rgb * 0.5 + 0.01
        rgb[on] = _mix(rgb[on], colour, np.clip(beard[on] * dens * (0.5 + 0.5 * speck), 0, 1))

    # scalp: hair roots colour it wherever hair grows, a little beyond the shell's edge
    rgb = _mix(rgb, hair_rgb * 0.8 + 0.005, 0.9 * hair_cover)

    # eyes: sclera with reddish corners, iris with radial fibres and a dark limbal ring, pupil
    eye_rgb = _paint_eyes(P[is_["eyes"]], an, app)
    # where the eye region's triangles reach past the lid margin, the margin's shadow and lashes
    margin = _mix(skin * 0.5, LASH_RGB, 0.7)
    rgb[is_["eyes"]] = _mix(margin[None], eye_rgb, eye_opening_weight(template_points[is_["eyes"]], an))

    rough = np.full(len(P), app["roughness"])
    tzone = _blob(P, an.nose_tip, 0.02) + _blob(P, eye_mid + np.array([0, 0.035, 0.01]), 0.02)
    rough -= 0.12 * np.clip(tzone, 0, 1)
    rough += (0.8 - rough) * np.clip(brow_w, 0, 1)  # hair is matte: no sheen greys the brows
    rough = np.where(lip_w > 0.5, 0.32, rough)
    rough[is_["eyes"]] = 0.04
    rough[is_["mouth"]] = 0.25
    rough = np.where(beard * (app["beard"] in ("full", "goatee", "moustache")) > 0.5, 0.7, rough)
    return rgb.clip(0.005, 0.95), rough.clip(0.02, 1.0)


def _beard_weight(P: np.ndarray, an: Anatomy, style: str) -> np.ndarray:
    """0..1 coverage of a facial-hair style on the lower face."""
    if style == "none":
        return np.zeros(len(P))
    mouth = an.mouth_centre
    x, y, z = P[:, 0] - mouth[0], P[:, 1] - mouth[1], P[:, 2]
    below_cheek = 1 - smoothstep(-0.002, 0.012, y - 0.012 + 0.25 * np.abs(x))
    front = smoothstep(-0.06, -0.03, z)
    upper_neck = smoothstep(-0.11, -0.07, P[:, 1])
    moustache = (1 - smoothstep(0.018, 0.026, np.abs(x))) * smoothstep(0.0, 0.004, y) * (1 - smoothstep(0.012, 0.016, y))
    goatee = (1 - smoothstep(0.016, 0.024, np.abs(x))) * (1 - smoothstep(-0.002, 0.004, y)) * upper_neck
    full = below_cheek * front * upper_neck
    return {"stubble": np.maximum(full, moustache), "moustache": moustache,
            "goatee": np.maximum(goatee, moustache), "full": np.maximum(full, moustache)}[style]


def _paint_eyes(P: np.ndarray, an: Anatomy, app: dict) -> np.ndarray:
    """Eye colours (N,3) at eye points P (N,3), by distance from the nearer pupil."""
    sclera = np.asarray(app["sclera_rgb"])
    iris = np.asarray(app["iris_rgb"])
    rel = P - an.pupils[(P[:, 0] <= 0).astype(int)]
    r = np.linalg.norm(rel, axis=1)
    r_iris, r_pupil = 0.0058 * app["iris_size"], 0.0021
    phi = np.arctan2(rel[:, 1], rel[:, 0])
    fibres = 0.75 + 0.25 * np.sin(phi * 37 + 3 * np.sin(phi * 11)) * np.sin(r * 9000)
    iris_col = iris[None] * fibres[:, None] * (0.8 + 0.4 * smoothstep(r_pupil, r_iris, r))[:, None]
    iris_col = _mix(iris_col, iris * 0.3, 0.7 * smoothstep(r_iris - 0.0012, r_iris, r))  # limbal ring
    rgb = _mix(np.tile(sclera, (len(P), 1)), sclera * np.array([1.0, 0.75, 0.72]), 0.4 * smoothstep(0.009, 0.014, r))
    rgb = _mix(rgb, iris_col, 1 - smoothstep(r_iris - 0.0003, r_iris + 0.0003, r))
    rgb *= (1 - 0.55 * smoothstep(0.0, 0.007, rel[:, 1]))[:, None]  # the upper lid and lashes shade the eye
    return _mix(rgb, np.array([0.008, 0.008, 0.01]), 1 - smoothstep(r_pupil - 0.0003, r_pupil + 0.0003, r))
