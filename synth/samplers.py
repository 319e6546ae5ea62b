"""Seeded samplers for a synthetic subject (numpy only, no Blender).

One subject = one integer seed derived from (synth.seed, domain, index): prior and eval subjects
come from disjoint SeedSequence streams. Each component (identity, expressions, appearance, hair,
cameras, lights, sensor) draws from its own child stream, so changing one sampler never shifts
the others.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from gasp.camera import DATASET_LOOK_TARGET as LOOK_TARGET  # the dataset cameras aim here
from gasp.camera import intrinsics, look_at_c2w, orbit_eye
from gasp.config import SynthConfig
from gasp.data import View, view_name
from synth.noise import smoothstep

_DOMAIN_STREAM = {"prior": 0, "eval": 1}
COMPONENTS = ("identity", "expression", "appearance", "hair", "cameras", "lights", "sensor")
# Skin albedo (sRGB 0..1) from very light to very dark; a subject picks a point on this curve. The two
# darkest lie near Monk Skin Tone scale 8 and 9: very dark skin is brown, not the red-brown they were.
SKIN_PALETTE = np.array([[252, 226, 212], [240, 196, 170], [224, 172, 138], [200, 138, 102], [168, 108, 74],
                         [130, 82, 56], [96, 64, 50], [60, 46, 38]], float) / 255.0
IRIS = {"dark_brown": (0.16, 0.08, 0.04), "brown": (0.30, 0.16, 0.07), "hazel": (0.40, 0.30, 0.12),
        "green": (0.25, 0.38, 0.20), "blue": (0.22, 0.36, 0.55), "grey": (0.40, 0.44, 0.46)}
BEARDS = ("none", "stubble", "moustache", "goatee", "full")
# The fixed key-plus-fill light of `gasp synth facecheck` (whatever the domain's own lighting).
CHECK_LIGHT = {"type": "check",
               "key": {"yaw": 35.0, "pitch": 30.0, "color": [1.0, 1.0, 1.0], "energy": 0.75},
               "fill": {"yaw": -50.0, "pitch": 5.0, "color": [1.0, 1.0, 1.0], "energy": 0.3},
               "ambient": {"color": [1.0, 1.0, 1.0], "strength": 0.25}}


def subject_seed(master_seed: int, domain: str, index: int) -> int:
    """The subject's seed: disjoint streams per domain (prior, eval) of the master seed."""
    ss = np.random.SeedSequence([master_seed, _DOMAIN_STREAM[domain], index])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def component_rngs(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(COMPONENTS))
    return {name: np.random.default_rng(c) for name, c in zip(COMPONENTS, children)}


@dataclasses.dataclass
class SubjectSample:
    """Everything drawn for one subject. V views; shape (S,), expr (V,E), jaw/neck (V,3), global_rt (V,6)."""
    subject: str
    domain: str
    seed: int
    shape: np.ndarray
    expr: np.ndarray
    jaw: np.ndarray
    neck: np.ndarray
    global_rt: np.ndarray
    views: list[View]
    appearance: dict
    hair: dict
    light: dict
    sensor: dict


# ------------------------------------------------------------------------------------------------
# Identity and per-view expression / pose


def sample_identity(rng: np.random.Generator, n_shape: int, truncation: float) -> np.ndarray:
    """(S,) standard-normal identity coefficients (the head model's basis carries the scale), each
    redrawn until |z| <= truncation: beyond about 2 sigma the procedural head turns into a caricature."""
    z = rng.standard_normal(n_shape)
    while (far := np.abs(z) > truncation).any():
        z[far] = rng.standard_normal(int(far.sum()))
    return z


def sample_expressions(rng: np.random.Generator, n_views: int, n_expr: int, scale: float):
    """Independent random expression and jaw/neck pose per view.

    Returns expr (V,E), jaw (V,3), neck (V,3) (axis-angle, radians). A few expression components
    dominate each view (real faces do one or two things at a time); about a third of the views are
    near-neutral.
    """
    expr = 0.35 * rng.standard_normal((n_views, n_expr))
    for v in range(n_views):
        k = rng.integers(1, 4)
        expr[v, rng.choice(n_expr, k, replace=False)] += rng.normal(0, 1.2, k)
    expr *= np.where(rng.random(n_views) < 0.3, 0.2, 1.0)[:, None] * scale
    jaw = np.zeros((n_views, 3))
    jaw[:, 0] = 0.38 * rng.beta(1.0, 2.5, n_views) * min(scale, 2.0)
    jaw[:, 1] = rng.normal(0, 0.03, n_views) * scale
    neck = rng.normal(0, [0.12, 0.2, 0.06], (n_views, 3)).clip(-0.4, 0.4) * scale
    return expr, jaw, neck


def smooth_sequence(rng: np.random.Generator, n_frames: int, dim: int, key_every: int, std) -> np.ndarray:
    """(n_frames, dim) random keyframes every `key_every` frames, cosine-interpolated (a 'video' track)."""
    n_keys = n_frames // key_every + 2
    keys = rng.normal(0, std, (n_keys, dim))
    t = np.arange(n_frames) / key_every
    i = np.floor(t).astype(int)
    w = (1 - np.cos(np.pi * (t - i))) / 2
    return keys[i] * (1 - w)[:, None] + keys[i + 1] * w[:, None]


# ------------------------------------------------------------------------------------------------
# Appearance and hair


def _srgb_to_linear(c):
    c = np.asarray(c, float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def skin_albedo(tone: float, undertone: float) -> np.ndarray:
    """Linear RGB skin albedo; tone 0 (very light) .. 1 (very dark), undertone -1 (pink) .. +1 (olive)."""
    x = tone * (len(SKIN_PALETTE) - 1)
    i = min(int(x), len(SKIN_PALETTE) - 2)
    srgb = SKIN_PALETTE[i] * (1 - (x - i)) + SKIN_PALETTE[i + 1] * (x - i)
    srgb = srgb * np.array([1.0 - 0.02 * undertone, 1.0 + 0.015 * undertone, 1.0 - 0.06 * undertone])
    return _srgb_to_linear(srgb.clip(0, 1))


def hair_albedo(melanin: float, red: float, grey: float) -> np.ndarray:
    """Linear RGB hair colour from eumelanin (0 blond .. 1 black), pheomelanin (red) and greying."""
    blond, black, ginger = np.array([0.60, 0.45, 0.25]), np.array([0.012, 0.009, 0.007]), np.array([0.45, 0.14, 0.05])
    c = np.exp(np.log(blond) * (1 - melanin) + np.log(black) * melanin)
    c = c * (1 - red) + ginger * red * (1 - 0.7 * melanin)
    return c * (1 - grey) + np.array([0.55, 0.55, 0.56]) * grey


def sample_appearance(rng: np.random.Generator) -> dict:
    """Skin, features and facial hair; JSON-friendly (floats and lists)."""
    tone = float(rng.random())
    undertone = float(rng.uniform(-1, 1))
    light_eyes = rng.random() < 0.75 * (1 - tone) ** 2
    iris_name = (rng.choice(["blue", "green", "grey", "hazel"]) if light_eyes
                 else rng.choice(["dark_brown", "brown", "hazel"], p=[0.55, 0.35, 0.10]))
    masculine = float(rng.random())
    beard = "none" if masculine < 0.5 else str(rng.choice(BEARDS, p=[0.30, 0.25, 0.10, 0.12, 0.23]))
    return {
        "skin_tone": tone,
        "undertone": undertone,
        "skin_rgb": skin_albedo(tone, undertone).tolist(),
        "blotch_strength": float(rng.uniform(0.04, 0.14)),
        "blotch_scale": float(rng.uniform(0.012, 0.04)),
        "freckles": float(rng.uniform(0.3, 1.0) if rng.random() < 0.45 * (1 - tone) else 0.0),
        "redness": float(rng.uniform(0.05, 0.4) * (1 - 0.6 * tone)),
        "lip_darken": float(rng.uniform(0.15, 0.45)),
        "lip_red": float(rng.uniform(0.15, 0.6)),
        "brow_density": float(rng.uniform(0.75, 1.0)),
        "brow_thickness": float(rng.uniform(0.7, 1.4)),
        "brow_darkness": float(rng.uniform(0.5, 0.95)),
        "iris": iris_name,
        "iris_rgb": (_srgb_to_linear(np.array(IRIS[iris_name]) * rng.uniform(0.8, 1.2)).clip(0, 1)).tolist(),
        "iris_size": float(rng.uniform(0.9, 1.1)),
        "sclera_rgb": _srgb_to_linear(np.array([0.78, 0.75, 0.70]) * rng.uniform(0.9, 1.0)).tolist(),
        "masculine": masculine,
        "beard": beard,
        "beard_density": float(rng.uniform(0.4, 1.0)),
        "eye_shadow": float(rng.uniform(0.1, 0.3)),
        "roughness": float(rng.uniform(0.45, 0.65)),
        "specular": float(rng.uniform(0.25, 0.4)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        # drawn last, so the draws above are those of subjects rendered before brows had a shape
        "brow_arch": float(rng.uniform(-0.002, 0.003)),
        "brow_tail": float(rng.uniform(-0.004, 0.003)),
        "brow_length": float(rng.uniform(0.85, 1.08)),
    }


def sample_hair(rng: np.random.Generator, appearance: dict) -> dict:
    """Hair colour and shell shape; bald allowed. Brows and beard take the hair's colour."""
    tone = appearance["skin_tone"]
    # blond and light-brown hair occur almost only with light skin: darker skin raises the floor of the
    # hair's melanin (to dark brown from tone 0.75)
    floor = 0.7 * float(smoothstep(0.35, 0.75, tone))
    draw = rng.beta(2.5, 1.2) if rng.random() < 0.8 - 0.6 * (1 - tone) else rng.random()
    melanin = float(np.clip(floor + (1 - floor) * draw, 0, 1))
    red = float(rng.uniform(0.3, 0.9) if rng.random() < 0.08 * (1 - tone) + 0.02 else rng.uniform(0, 0.15))
    grey = float(rng.uniform(0.4, 1.0) if rng.random() < 0.15 else 0.0)
    bald = bool(rng.random() < 0.08 + 0.1 * appearance["masculine"])
    long_hair = not bald and rng.random() < 0.55 * (1 - appearance["masculine"]) + 0.1
    return {
        "bald": bald,
        "melanin": melanin, "red": red, "grey": grey,
        "rgb": hair_albedo(melanin, red, grey).tolist(),
        "volume": 0.0 if bald else float(rng.uniform(0.015, 0.035) if long_hair else rng.uniform(0.006, 0.025)),
        "length": float(rng.uniform(0.6, 1.0) if long_hair else rng.uniform(0.0, 0.5)),
        "hairline": float(rng.uniform(-0.01, 0.03) + (0.02 * rng.random() if appearance["masculine"] > 0.7 else 0)),
        "temples": float(rng.uniform(0.0, 1.0) * appearance["masculine"]),
        "part": float(rng.uniform(-1, 1)),
        "fringe": float(rng.uniform(0.3, 1.0) if rng.random() < 0.3 else 0.0),
        "clump": float(rng.uniform(0.2, 1.0)),
        "strand_freq": float(rng.uniform(60, 110)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
    }


# ------------------------------------------------------------------------------------------------
# Cameras and lights


def prior_cameras(rng: np.random.Generator, cfg: SynthConfig, n_views: int) -> list[View]:
    """n_views cameras stratified over 360 degrees of yaw and [pitch_min, pitch_max], random phase."""
    K = intrinsics(cfg.focal_mm, cfg.resolution, cfg.resolution)
    yaw = (rng.random() + np.arange(n_views) + rng.uniform(-0.3, 0.3, n_views)) / n_views * 360.0
    strata = (rng.permutation(n_views) + rng.random(n_views)) / n_views
    pitch = cfg.pitch_min_deg + (cfg.pitch_max_deg - cfg.pitch_min_deg) * strata
    return [View(view_name(i), K, np.linalg.inv(look_at_c2w(orbit_eye(y, p, cfg.camera_distance, LOOK_TARGET),
                                                            LOOK_TARGET)), "prior", "train")
            for i, (y, p) in enumerate(zip(yaw, pitch))]


def rig_angles(n: int) -> np.ndarray:
    """(n,2) yaw, pitch in degrees: a sunflower spiral over the frontal hemisphere (yaw +-70, pitch -20..40)."""
    k = np.arange(n)
    r = np.sqrt((k + 0.5) / n)
    theta = k * np.pi * (3 - np.sqrt(5))
    return np.stack([70 * r * np.cos(theta), 10 + 30 * r * np.sin(theta)], 1)


def eval_views(cfg: SynthConfig) -> list[tuple[str, str, float, float]]:
    """(group, split, camera yaw, camera pitch) per eval view, in the stored order: video, single, ring, rig."""
    out = [("video", "test" if i % cfg.video_test_every == 0 else "train", 0.0, 5.0)
           for i in range(cfg.video_frames)]
    out.append(("single", "train", 0.0, 5.0))
    out += [("ring", "test", 360.0 * i / cfg.ring_views, 5.0) for i in range(cfg.ring_views)]
    n = cfg.rig_cameras
    test = {int(n * (j + 0.5) / cfg.rig_test_cameras) for j in range(cfg.rig_test_cameras)}
    out += [("rig", "test" if i in test else "train", y, p) for i, (y, p) in enumerate(rig_angles(n))]
    return out


def sample_eval_lights(rng: np.random.Generator, tint: float) -> dict:
    """Non-uniform coloured light: a tinted key and fill (directions in the frontal hemisphere) and a
    tinted ambient. Colours are hue-random with saturation `tint`."""
    def colour():
        hue = rng.random() * 2 * np.pi
        c = 1 + tint * np.array([np.cos(hue), np.cos(hue - 2.094), np.cos(hue + 2.094)])
        return (c / c.max()).tolist()

    key_yaw = float(rng.uniform(25, 70) * rng.choice([-1, 1]))
    return {"type": "eval",
            "key": {"yaw": key_yaw, "pitch": float(rng.uniform(15, 50)), "color": colour(),
                    "energy": float(rng.uniform(0.8, 1.2))},
            "fill": {"yaw": -key_yaw * rng.uniform(0.6, 1.2), "pitch": float(rng.uniform(-10, 20)),
                     "color": colour(), "energy": float(rng.uniform(0.2, 0.45))},
            "ambient": {"color": colour(), "strength": float(rng.uniform(0.2, 0.4))}}


def sample_sensor(rng: np.random.Generator, cfg: SynthConfig) -> dict:
    """Eval-domain camera effects: per-channel gain (colour cast), Gaussian noise, JPEG quality."""
    return {"gain": (1 + rng.uniform(-cfg.eval_color_cast, cfg.eval_color_cast, 3)).tolist(),
            "noise_std": cfg.eval_noise_std, "jpeg_quality": cfg.eval_jpeg_quality,
            "noise_seed": int(rng.integers(0, 2**31 - 1))}


def _head_rotation(yaw_rad: np.ndarray, pitch_rad: np.ndarray) -> np.ndarray:
    """(V,3) axis-angle of R = R_y(yaw) @ R_x(pitch)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("YX", np.stack([yaw_rad, pitch_rad], 1)).as_rotvec()


# ------------------------------------------------------------------------------------------------
# A whole subject


def sample_subject(cfg: SynthConfig, n_shape: int, n_expr: int, domain: str, index: int) -> SubjectSample:
    """Draw every parameter of subject `index` of `domain` ('prior' | 'eval')."""
    from gasp.data import subject_id

    seed = subject_seed(cfg.seed, domain, index)
    rng = component_rngs(seed)
    shape = sample_identity(rng["identity"], n_shape, cfg.identity_truncation)
    appearance = sample_appearance(rng["appearance"])
    hair = sample_hair(rng["hair"], appearance)
    if domain == "prior":
        views = prior_cameras(rng["cameras"], cfg, cfg.prior_views)
        expr, jaw, neck = sample_expressions(rng["expression"], len(views), n_expr, cfg.expression_scale)
        global_rt = np.zeros((len(views), 6))
        light, sensor = {"type": "uniform", "strength": 1.0}, {}
    else:
        layout = eval_views(cfg)
        K = intrinsics(cfg.focal_mm, cfg.resolution, cfg.resolution)
        views = [View(view_name(i), K, np.linalg.inv(look_at_c2w(orbit_eye(y, p, cfg.camera_distance, LOOK_TARGET),
                                                                 LOOK_TARGET)), g, s)
                 for i, (g, s, y, p) in enumerate(layout)]
        expr, jaw, neck = _eval_motion(rng["expression"], cfg, layout, n_expr)
        global_rt = np.zeros((len(views), 6))
        f = cfg.video_frames
        t = np.arange(f) / max(f - 1, 1)
        global_rt[:f, :3] = _head_rotation(np.radians(cfg.video_yaw_deg) * np.sin(2 * np.pi * t + rng["cameras"].uniform(-0.3, 0.3)),
                                          np.radians(6.0) * np.sin(4 * np.pi * t))
        light, sensor = sample_eval_lights(rng["lights"], cfg.eval_light_tint), sample_sensor(rng["sensor"], cfg)
    return SubjectSample(subject_id(domain, index), domain, seed, shape, expr, jaw, neck, global_rt, views,
                         appearance, hair, light, sensor)


def _eval_motion(rng: np.random.Generator, cfg: SynthConfig, layout, n_expr: int):
    """Video: smoothly changing expressions and jaw; single and ring: neutral; rig: one shared expression."""
    V, f = len(layout), cfg.video_frames
    expr, jaw, neck = np.zeros((V, n_expr)), np.zeros((V, 3)), np.zeros((V, 3))
    s = cfg.expression_scale
    expr[:f] = smooth_sequence(rng, f, n_expr, 4, 0.6 * s)
    jaw[:f, 0] = np.clip(smooth_sequence(rng, f, 1, 4, 0.15 * s)[:, 0], 0, 0.35)
    neck[:f] = smooth_sequence(rng, f, 3, 6, [0.04 * s, 0.05 * s, 0.02 * s])
    rig = np.array([g == "rig" for g, *_ in layout])
    e, j, n = sample_expressions(rng, 1, n_expr, 0.6 * s)
    expr[rig], jaw[rig], neck[rig] = e, j, n
    return expr, jaw, neck
