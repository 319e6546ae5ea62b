"""Procedural skin, eyes, lips, brows and facial hair, painted at surface points of the template.

`paint_head(points (N,3), regions (N,) names, anatomy, appearance, hair_cover (N,), hair) -> (rgb (N,3)
linear, roughness (N,))`. Points are texel centres mapped onto the template surface (synth.assets
puts them into UV images), so every pattern is continuous across UV seams.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from synth.noise import smoothstep, wave_noise


@dataclasses.dataclass(frozen=True)
class Anatomy:
    """Feature positions on the subject's neutral mesh (head frame, metres).

    pupils (2,3) left (+x) first; nose_tip, mouth_centre (3,); lip_points (M,3), eye_points (K,3),
    brow_points (B,3), ear_points (A,3): vertices of those regions, for soft distance falloffs.
    """
    pupils: np.ndarray
    nose_tip: np.ndarray
    mouth_centre: np.ndarray
    lip_points: np.ndarray
    eye_points: np.ndarray
    brow_points: np.ndarray
    ear_points: np.ndarray


def measure_anatomy(model, verts: np.ndarray) -> Anatomy:
    """Anatomy of a HeadModel posed as `verts` (V,3), from its landmarks and face regions."""
    import torch

    lm = {k: v[0].numpy().astype(np.float64)
          for k, v in model.landmark_points(torch.as_tensor(verts, dtype=torch.float32)[None]).items()}
    faces, regions = model.faces.numpy(), model.face_regions.numpy()

    def region_verts(*names):
        keep = np.isin(regions, [model.region_id(n) for n in names])
        return verts[np.unique(faces[keep])]

    lips = region_verts("lips")
    return Anatomy(pupils=np.stack([lm["pupil_l"], lm["pupil_r"]]), nose_tip=lm["nose_tip"],
                   mouth_centre=(lm["mouth_corner_l"] + lm["mouth_corner_r"] + lm["upper_lip"] + lm["lower_lip"]) / 4,
                   lip_points=lips, eye_points=region_verts("eyes"), brow_points=region_verts("brows"),
                   ear_points=region_verts("ears"))


def distance_within(points: np.ndarray, targets: np.ndarray, reach: float) -> np.ndarray:
    """Distance (N,) to the nearest target, inf beyond `reach`: every falloff below is flat beyond its
    reach, and most texels are far from any one feature, so only those in its padded box are searched."""
    near = np.all((points >= targets.min(0) - reach) & (points <= targets.max(0) + reach), axis=1)
    d = np.full(len(points), np.inf)
    d[near] = cKDTree(targets).query(points[near], k=1, distance_upper_bound=reach)[0]
    return d


def _mix(a: np.ndarray, b, t) -> np.ndarray:
    t = np.asarray(t, float)
    return a * (1 - t[..., None]) + np.asarray(b) * t[..., None]


def _blob(points, centre, radius):
    d = points - centre
    return np.exp(np.einsum("ij,ij->i", d, d) / (-2 * radius**2))


def paint_head(points: np.ndarray, regions: np.ndarray, an: Anatomy, app: dict, hair_cover: np.ndarray,
               hair: dict) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (N,3) linear RGB and roughness (N,) at `points` (N,3) with region names `regions` (N,)."""
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
    d_eye = distance_within(P, an.eye_points, 0.009)
    upper = P[:, 1] > eye_mid[1] - 0.003
    lash = (1 - smoothstep(0.0006, 0.0022 + 0.0020 * upper, d_eye)) * ~is_["eyes"]
    crease = np.exp(-(((d_eye - 0.0055) / 0.0015) ** 2)) * (P[:, 1] > eye_mid[1] + 0.002)
    socket = sum(_blob(P, c + np.array([0, 0.004, -0.008]), 0.014) for c in an.pupils)
    shade = app["eye_shadow"] * np.clip(socket, 0, 1) + 0.35 * crease
    rgb *= (1 - np.clip(shade, 0, 0.8) * ~is_["eyes"])[:, None]
    rgb = _mix(rgb, np.array([0.02, 0.015, 0.012]), 0.9 * lash)

    # lips with a soft border; dark mouth interior
    d_lip = distance_within(P, an.lip_points, 0.0025)
    lip_w = 1 - smoothstep(0.0, 0.0025, d_lip)
    lip_rgb = skin * (1 - app["lip_darken"]) * np.array([1.0 + app["lip_red"], 0.75, 0.8])
    on = lip_w > 0  # patterns below are evaluated only where they show (same random draws)
    lip_rgb = lip_rgb * np.exp(0.06 * wave_noise(P[on], rng, 0.002, octaves=1))[:, None]
    rgb[on] = _mix(rgb[on], lip_rgb, (lip_w * ~is_["eyes"])[on])
    rgb[is_["mouth"]] = np.array([0.12, 0.025, 0.025])

    # brows: strands running laterally, density falling off at the region edge
    brow_rgb = hair_rgb * (1 - app["brow_darkness"]) + np.array([0.02, 0.015, 0.01]) * app["brow_darkness"]
    brow_rgb = np.minimum(brow_rgb, skin * 0.5)  # brows always read darker than the skin
    d_brow = distance_within(P, an.brow_points, 0.0015 + 0.0025 * app["brow_thickness"])
    # solid over the region (its vertices lie 2.6 mm apart, so d <= 1.3 mm inside), soft 3-4 mm edge
    brow_w = (1 - smoothstep(0.0015, 0.0015 + 0.0025 * app["brow_thickness"], d_brow)) * app["brow_density"]
    on = brow_w > 0
    strands = smoothstep(-0.6, 0.6, wave_noise(P[on], rng, 0.006, octaves=1, anisotropy=(0.15, 1.0, 1.0)))
    rgb[on] = _mix(rgb[on], brow_rgb, np.clip(brow_w[on] * (0.8 + 0.2 * strands), 0, 1) * ~is_["eyes"][on])

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
    rgb[is_["eyes"]] = _paint_eyes(P[is_["eyes"]], an, app)

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
