"""Identity and expression bases of the procedural head: smooth displacement fields of the anchors.

Each component is the displacement at +1 standard deviation (coefficients are standard normal).
The first components are named anatomical variations (proportions, jaw, chin, nose, eyes, lips,
brows, cheeks, forehead, ears, neck); any further ones are seeded random smooth fields over the
face so larger bases stay deterministic. Fields depend on anchors (pocket folded flat), so the
mouth cavity moves with the lips.
"""
from __future__ import annotations

import numpy as np

from gasp.model.head import shape as S

MIRROR = np.array([-1.0, 1.0, 1.0])


def _g(a, c, s):
    """Gaussian weight of points a (V,3) around c (3,) with sigma s (scalar or (3,))."""
    return np.exp(-0.5 * (((a - np.asarray(c)) / np.asarray(s)) ** 2).sum(-1))


def _both(a, c, s):
    """Gaussian weights around c and its mirror image, with the side sign (+1 for x > 0)."""
    return _g(a, c, s) + _g(a, np.asarray(c) * MIRROR, s)


def _step(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _vec(w, d):
    """Weights (V,) times a direction (3,) or per-vertex directions (V,3) -> (V,3)."""
    return w[:, None] * np.asarray(d)


def _identity_named(a, nrm, n):
    x, y, z = a.T
    sx = np.sign(x)
    side = np.stack([sx, np.zeros_like(x), np.zeros_like(x)], -1)
    front = _step(0.0, 0.07, z)
    face = front * _step(-0.15, -0.10, y) * (1 - _step(0.06, 0.10, y))
    lower = front * (1 - _step(-0.03, 0.0, y)) * _step(-0.14, -0.10, y)
    eye_l, eye_r = S.EYE, S.EYE * MIRROR
    eye_w = _both(a, S.EYE + [0, 0, 0.01], [0.016, 0.012, 0.02])
    ear_w = _both(a, S.EAR + [0.006, 0, 0], [0.014, 0.03, 0.022]) * _step(0.055, 0.07, np.abs(x))
    ear_c = np.where(x[:, None] > 0, S.EAR, S.EAR * MIRROR)
    mouth_w = _g(a, [0, S.MOUTH_Y, 0.095], [0.026, 0.012, 0.02])
    upper_lip = _g(a, [0, S.MOUTH_Y + 0.006, 0.1], [0.022, 0.005, 0.015])
    lower_lip = _g(a, [0, S.MOUTH_Y - 0.007, 0.1], [0.02, 0.006, 0.015])
    chin_w = _g(a, S.CHIN, [0.022, 0.016, 0.02])
    nose_w = _g(a, [0, 0.0, 0.11], [0.014, 0.03, 0.02]) * _step(0.09, 0.1, z)
    tip_w = _g(a, S.NOSE_TIP, [0.011, 0.009, 0.012])
    alae_w = _both(a, [0.0135, -0.019, 0.103], [0.008, 0.007, 0.01])
    bridge_w = _g(a, [0, 0.018, 0.102], [0.008, 0.014, 0.012])
    brow_w = _both(a, S.BROW, [0.02, 0.008, 0.015])
    cheek_w = _both(a, S.CHEEKBONE + [0.008, 0, 0.008], [0.016, 0.013, 0.018])
    lowcheek_w = _both(a, [0.048, -0.035, 0.058], [0.016, 0.018, 0.02])
    gonion_w = _both(a, S.GONION + [0.005, 0, 0.01], [0.018, 0.02, 0.025])
    fore_w = front * _step(0.045, 0.07, y)
    back = _step(-0.02, -0.09, z)
    crown = _step(0.05, 0.12, y)
    neck = 1 - _step(-0.12, -0.085, y)
    comps = [
        0.030 * a,                                               # overall size
        _vec(0.035 * x, [1, 0, 0]),                               # head width
        _vec(0.030 * y, [0, 1, 0]),                               # head height
        _vec(0.060 * z * back, [0, 0, 1]),                        # head length (occiput)
        _vec(0.045 * x * face, [1, 0, 0]),                        # face width
        _vec(0.045 * np.minimum(y, 0.0) * face, [0, 1, 0]),       # face length (lower face)
        _vec(0.07 * x * gonion_w, [1, 0, 0]),                     # jaw width
        _vec(0.006 * chin_w, [0, 0, 1]),                          # chin projection
        _vec(0.006 * chin_w, [0, -1, 0]),                         # chin height
        _vec(0.15 * x * chin_w, [1, 0, 0]),                       # chin width
        _vec(0.004 * nose_w * _step(0.04, -0.02, y), [0, -1, 0.3]),  # nose length
        _vec(0.12 * x * (alae_w + 0.5 * tip_w), [1, 0, 0]),       # nose width
        _vec(0.0045 * bridge_w, [0, 0, 1]),                       # nose bridge height
        _vec(0.0035 * tip_w, [0, 0, 1]),                          # nose tip projection
        _vec(0.0035 * tip_w, [0, 1, 0]),                          # nose tip up-turn
        _vec(0.0030 * _g(a, [0, 0.012, 0.105], [0.006, 0.006, 0.01]), [0, 0, 1]),  # nose hump
        0.0019 * side * eye_w[:, None],                           # eye spacing (adult IPD: 3.8 mm std)
        0.06 * eye_w[:, None] * (a - np.where(x[:, None] > 0, eye_l, eye_r)) * [1, 1, 0.3],  # eye size
        _vec(0.0040 * eye_w, [0, 1, 0]),                          # eye height
        _vec(0.08 * (np.abs(x) - S.EYE[0]) * eye_w, [0, 1, 0]),   # canthal tilt
        _vec(0.0035 * eye_w, [0, 0, -1]),                         # eye depth
        _vec(0.0030 * upper_lip, [0, 0.3, 1]),                    # upper lip fullness
        _vec(0.0035 * lower_lip, [0, -0.3, 1]),                   # lower lip fullness
        _vec(0.09 * x * mouth_w, [1, 0, 0]),                      # mouth width
        _vec(0.0040 * mouth_w, [0, 1, 0]),                        # mouth height
        _vec(0.0040 * _g(a, [0, S.MOUTH_Y + 0.015, 0.1], [0.02, 0.008, 0.02]), [0, 1, 0]),  # philtrum length
        _vec(0.0050 * brow_w, [0, 0, 1]),                         # brow ridge
        _vec(0.0040 * brow_w, [0, 1, 0]),                         # brow height
        _vec(0.0035 * cheek_w, nrm),                              # cheekbones
        _vec(0.0060 * lowcheek_w, nrm),                           # cheek fullness
        _vec(0.0070 * fore_w * (y - 0.045) / 0.05, [0, 0, -1]),   # forehead slope
        _vec(0.0060 * fore_w, [0, 1, 0]),                         # forehead height
        _vec(0.0060 * front * _step(-0.05, 0.0, y) * (1 - _step(0.05, 0.09, y)), [0, 0, 1]),  # midface depth
        _vec(0.0060 * mouth_w + 0.004 * chin_w, [0, 0, 1]),       # prognathism
        _vec(0.0050 * _both(a, [0.066, 0.04, 0.045], [0.014, 0.02, 0.02]), nrm),  # temples
        0.14 * (a - ear_c) * ear_w[:, None],                      # ear size
        _vec(0.0060 * ear_w * _step(-0.01, -0.03, z), [1, 0, 0]) * side,  # ear protrusion
        _vec(0.0050 * ear_w, [0, 1, 0]),                          # ear height
        _vec(0.10 * neck, [1, 0, 1]) * (a - [0, 0, -0.02]) * [1, 0, 1],  # neck width
        _vec(0.0050 * gonion_w, [0, 1, 0]),                       # jaw angle height
        _vec(0.0080 * crown, [0, 1, 0]),                          # crown height
        _vec(0.0080 * back * _g(a, [0, 0.03, -0.11], [0.05, 0.04, 0.04]), [0, 0, -1]),  # occiput bulge
        _vec(0.0050 * _g(a, [0, -0.10, 0.05], [0.025, 0.012, 0.025]), [0, -1, 0.3]),  # double chin
        _vec(0.0030 * _g(a, [0, 0.034, 0.098], [0.008, 0.006, 0.01]), [0, 0, -1]),  # nasion depth
        _vec(0.0015 * alae_w, [1, 0, 0]) * side,                  # alar flare
        _vec(0.0020 * face, [1, 0, 0]),                           # slight asymmetry
        _vec(0.0030 * lower, nrm),                                # lower-face fullness
        _vec(0.0040 * _both(a, [0.04, -0.07, 0.05], [0.015, 0.012, 0.02]), nrm),  # jaw line
    ]
    return np.stack(comps[:n], -1)


def _random_fields(a, n, seed, sigma_range, amp, centre_mask):
    """n seeded smooth random displacement fields: a few Gaussian bumps with random directions."""
    rng = np.random.default_rng(seed)
    cand = np.flatnonzero(centre_mask)
    out = np.zeros((len(a), 3, n))
    for k in range(n):
        for _ in range(4):
            c = a[cand[rng.integers(len(cand))]]
            out[:, :, k] += _vec(_g(a, c, rng.uniform(*sigma_range)), rng.normal(size=3) * amp)
    return out


# The named amplitudes follow adult standard deviations (Farkas 1994; IPD: Dodgson 2004) where those
# exist; the basis exaggerates all of them by this factor, because with texture alone procedural faces
# are too alike for a face recogniser (gasp synth facecheck, 20 subjects: mean between-subject dlib
# distance 0.45 at 1.0, 0.48 at 1.2), and further exaggeration costs face detection.
IDENTITY_EXAGGERATION = 1.2


def identity_basis(anchor: np.ndarray, normal: np.ndarray, n: int) -> np.ndarray:
    """anchor (V,3), normal (V,3) -> shapedirs (V,3,n)."""
    named = _identity_named(anchor, normal, n)
    extra = n - named.shape[-1]
    if extra > 0:
        front = anchor[:, 2] > 0.04
        # 1.1 mm per bump and axis: at 1.5 mm one field alone moved an eye corner by more than the
        # adult standard deviation of the eye's width
        named = np.concatenate([named, _random_fields(anchor, extra, 1234, (0.012, 0.03), 0.0011, front)], -1)
    return IDENTITY_EXAGGERATION * named


def expression_basis(anchor: np.ndarray, normal: np.ndarray, n: int) -> np.ndarray:
    """anchor (V,3), normal (V,3) -> exprdirs (V,3,n). At +1 a blink half-closes the eye; +2 closes it."""
    a = anchor
    x, y, z = a.T
    corner_l = _g(a, [S.MOUTH_HALF_W, S.MOUTH_Y, 0.09], [0.011, 0.01, 0.015])
    corner_r = _g(a, [-S.MOUTH_HALF_W, S.MOUTH_Y, 0.09], [0.011, 0.01, 0.015])
    corners = corner_l + corner_r
    side = np.sign(x)
    mouth_w = _g(a, [0, S.MOUTH_Y, 0.097], [0.022, 0.011, 0.02])
    brow_l = _g(a, S.BROW + [0, 0.004, 0], [0.02, 0.014, 0.03])
    brow_r = _g(a, S.BROW * MIRROR + [0, 0.004, 0], [0.02, 0.014, 0.03])
    inner_brow = _both(a, [0.014, 0.045, 0.094], [0.01, 0.008, 0.02])
    cheek = _both(a, [0.045, -0.032, 0.06], [0.016, 0.016, 0.02])
    cheek_up = _both(a, [0.045, -0.005, 0.07], [0.016, 0.012, 0.02])

    def blink(sign):
        c = S.EYE * (MIRROR if sign < 0 else 1)
        dx = (x - c[0]) / 0.017
        lower_edge = c[1] - S.EYE_OPEN[1]
        rel = np.clip(y - lower_edge, 0.0, None)
        reach = np.exp(-0.5 * dx ** 2) * (1 - _step(0.012, 0.022, rel)) * _step(c[2] - 0.005, c[2] + 0.006, z)
        fall = np.where(rel < 2 * S.EYE_OPEN[1] + 0.0025, rel * 0.5, (2 * S.EYE_OPEN[1] + 0.0025) * 0.5)
        return _vec(reach * fall, [0, -1, 0])

    comps = [
        _vec(0.006 * corners, [0, 1, -0.35]) + 0.004 * corners[:, None] * np.stack([side, 0 * x, 0 * x], -1)
        + _vec(0.003 * cheek_up, [0, 1, 0.4]),                                   # smile
        _vec(0.005 * corners, [0, -1, 0]) + _vec(0.002 * _g(a, S.CHIN, 0.015), [0, 1, 0.5]),  # frown
        _vec(0.006 * brow_l, [0, 1, 0.1]),                                        # brow raise left
        _vec(0.006 * brow_r, [0, 1, 0.1]),                                        # brow raise right
        _vec(0.004 * inner_brow, [0, -1, 0.2]) - 0.003 * inner_brow[:, None] * np.stack([side, 0 * x, 0 * x], -1),  # brow furrow
        blink(+1),                                                                # blink left
        blink(-1),                                                                # blink right
        _vec(0.007 * mouth_w, [0, 0, 1]) - _vec(0.35 * mouth_w, [1, 0, 0]) * x[:, None],  # pucker
        _vec(0.30 * mouth_w, [1, 0, 0]) * x[:, None] + _vec(0.002 * corners, [0, 0, -1]),  # mouth stretch
        _vec(0.008 * cheek, normal),                                   # cheek puff
        _vec(0.003 * _g(a, [0, S.MOUTH_Y, 0.1], [0.02, 0.008, 0.01]), [0, 0, -1]),  # lip press
        _vec(0.003 * (_both(a, [0.014, -0.016, 0.1], [0.008, 0.008, 0.01])
                      + 0.6 * _g(a, [0, S.MOUTH_Y + 0.007, 0.1], [0.015, 0.004, 0.01])), [0, 1, 0.2]),  # sneer
        _vec(0.006 * mouth_w, [1, 0, 0]),                                         # mouth sideways
        _vec(0.0025 * _both(a, S.EYE + [0, -0.012, 0.008], [0.012, 0.004, 0.01]), [0, 1, 0]),  # squint
    ]
    named = np.stack(comps[:n], -1)
    extra = n - named.shape[-1]
    if extra <= 0:
        return named
    front = (anchor[:, 2] > 0.05) & (anchor[:, 1] < 0.06)
    return np.concatenate([named, _random_fields(anchor, extra, 4321, (0.01, 0.02), 0.002, front)], -1)

