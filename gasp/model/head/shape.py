"""The neutral head as a signed distance field (metres, +Y up, face toward +Z, ear centre at origin)
and a ray caster that turns it into a star-shaped surface seen from the origin.

Anatomy is a smooth CSG of ellipsoids and capsules: cranium, face mass, jaw, chin, cheekbones,
brow ridge, eye sockets with eyeballs and lids, nose (bridge, tip, alae, nostrils), lips, ears,
neck. Bilateral parts are modelled once on the +X side and mirrored through |x|.
"""
from __future__ import annotations

import numpy as np

# Landmark-level anatomy shared with the bases, regions and skinning (all +X side where bilateral).
EYE = np.array([0.031, 0.029, 0.073])        # eyeball centre
EYE_R = 0.0118                                # eyeball radius
LID_R = 0.0134                                # lid shell radius (lid margin stands 1.6 mm proud)
EYE_OPEN = (0.0135, 0.0049)                   # half width/height of the lid opening (almond)
MOUTH_Y = -0.0448                             # the lip line
MOUTH_HALF_W = 0.0245
NOSE_TIP = np.array([0.0, -0.012, 0.122])
CHIN = np.array([0.0, -0.073, 0.085])
EAR = np.array([0.079, -0.004, -0.012])      # ear centre
EAR_TILT = 0.26                               # radians, top of the ear leans back
EAR_FLARE = 0.42                              # radians, back edge stands off the head
BROW = np.array([0.033, 0.048, 0.084])
CHEEKBONE = np.array([0.047, 0.006, 0.064])
GONION = np.array([0.053, -0.062, -0.004])
TMJ = np.array([0.066, -0.014, 0.010])
NECK_BOTTOM = -0.18


def _ell(p, c, r):
    """Approximate signed distance to an axis-aligned ellipsoid. p (N,3) -> (N,)."""
    q = (p - c) / r
    k0 = np.sqrt((q * q).sum(-1))
    q = q / r
    k1 = np.sqrt((q * q).sum(-1))
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _capsule(p, a, b, ra, rb):
    """Capsule from a to b with radius varying linearly from ra to rb."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ba = b - a
    h = np.clip(((p - a) @ ba) / (ba @ ba), 0.0, 1.0)
    d = p - a - h[:, None] * ba
    return np.sqrt((d * d).sum(-1)) - (ra + (rb - ra) * h)


def _smin(a, b, k):
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _smax(a, b, k):
    return -_smin(-a, -b, k)


def _rot_x(t):
    c, s = np.cos(t), np.sin(t)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(t):
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


EAR_FRAME = _rot_y(-EAR_FLARE) @ _rot_x(-EAR_TILT)   # ear-local -> head (+X side)


def ear_local(p):
    """Head points (+X side, p (N,3)) -> ear-local coordinates (x out of the ear plate)."""
    return (p - EAR) @ EAR_FRAME


def _ear(p):
    q = ear_local(p)
    plate = _ell(q, np.array([0.0, 0.0, 0.0]), np.array([0.0085, 0.031, 0.0175]))
    lobe = _ell(q, np.array([-0.001, -0.024, 0.004]), np.array([0.006, 0.009, 0.0085]))
    ear = _smin(plate, lobe, 0.004)
    concha = _ell(q, np.array([0.0085, -0.004, 0.0035]), np.array([0.0055, 0.011, 0.0085]))
    scapha = _ell(q, np.array([0.0085, 0.012, -0.003]), np.array([0.003, 0.012, 0.0075]))
    ear = _smax(ear, -concha, 0.0025)
    ear = _smax(ear, -scapha, 0.002)
    return ear


def _eye(p):
    """Eyeball with upper and lower lids: the lid shell minus the almond opening."""
    d_ball = np.linalg.norm(p - EYE, axis=-1) - EYE_R
    d_lid = np.linalg.norm(p - EYE, axis=-1) - LID_R
    qx = (p[:, 0] - EYE[0]) / EYE_OPEN[0]
    qy = (p[:, 1] - EYE[1] - 0.25 * (p[:, 0] - EYE[0]) * 0.2) / EYE_OPEN[1]
    d_open = (np.sqrt(qx * qx + qy * qy) - 1.0) * EYE_OPEN[1]
    lids = _smax(d_lid, -d_open, 0.0012)
    return np.minimum(d_ball, lids)


def head_sdf(p: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) of the neutral head. p (N,3) -> (N,)."""
    p = np.asarray(p, dtype=np.float64)
    m = np.abs(p) * np.array([1, 0, 0]) + p * np.array([0, 1, 1])      # mirrored to +X
    d = _ell(p, np.array([0.0, 0.030, -0.012]), np.array([0.076, 0.100, 0.101]))          # cranium
    forehead = _ell(p, np.array([0.0, 0.038, 0.016]), np.array([0.064, 0.074, 0.074]))
    d = _smin(d, forehead, 0.02)
    face = _ell(p, np.array([0.0, -0.027, 0.026]), np.array([0.061, 0.060, 0.066]))
    d = _smin(d, face, 0.03)
    jaw = _capsule(m, GONION, [0.014, -0.080, 0.075], 0.017, 0.014)
    d = _smin(d, jaw, 0.018)
    d = _smin(d, _ell(p, CHIN, np.array([0.021, 0.015, 0.012])), 0.012)
    d = _smin(d, _ell(p, np.array([0.0, -0.036, 0.070]), np.array([0.033, 0.028, 0.027])), 0.016)  # muzzle
    d = _smin(d, _ell(m, CHEEKBONE, np.array([0.019, 0.012, 0.019])), 0.022)
    brow = _capsule(m, [0.0, 0.046, 0.090], [0.052, 0.051, 0.074], 0.0095, 0.0075)
    d = _smin(d, brow, 0.012)
    socket = _ell(m, np.array([EYE[0], EYE[1] - 0.001, 0.092]), np.array([0.019, 0.0135, 0.017]))
    d = _smax(d, -socket, 0.008)
    d = _smin(d, _eye(m), 0.003)
    nose = _capsule(p, [0.0, 0.034, 0.091], [0.0, -0.006, 0.116], 0.0060, 0.0085)
    nose = _smin(nose, _ell(p, NOSE_TIP - [0.0, 0.0, 0.009], np.array([0.0105, 0.0095, 0.0095])), 0.005)
    nose = _smin(nose, _ell(m, np.array([0.0125, -0.019, 0.103]), np.array([0.0085, 0.0065, 0.0075])), 0.004)
    d = _smin(d, nose, 0.006)
    d = _smax(d, -_ell(m, np.array([0.0068, -0.0245, 0.108]), np.array([0.0038, 0.0022, 0.0052])), 0.0015)
    upper = _ell(p, np.array([0.0, MOUTH_Y + 0.0055, 0.0935]), np.array([MOUTH_HALF_W, 0.0055, 0.0095]))
    lower = _ell(p, np.array([0.0, MOUTH_Y - 0.0062, 0.0915]), np.array([MOUTH_HALF_W - 0.004, 0.0064, 0.0095]))
    d = _smin(d, np.minimum(upper, lower), 0.0035)
    d = _smin(d, _ear(m), 0.004)
    flare = 1.0 + 0.10 * np.clip((-0.125 - p[:, 1]) / 0.055, 0.0, 1.0) ** 2      # trapezius
    q = (p[:, [0, 2]] - np.array([0.0, -0.020])) / (np.array([0.056, 0.058]) * flare[:, None])
    neck = (np.sqrt((q * q).sum(-1)) - 1.0) * 0.057
    neck = _smax(neck, NECK_BOTTOM - p[:, 1], 0.008)
    neck = _smax(neck, p[:, 1] - 0.02, 0.01)
    return _smin(d, neck, 0.022)


def sdf_normal(p: np.ndarray, eps: float = 2e-4) -> np.ndarray:
    """Unit outward normals of the field at p (N,3) (tetrahedral differences) -> (N,3)."""
    k = np.array([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], dtype=np.float64)
    g = sum(kk * head_sdf(p + kk * eps)[:, None] for kk in k)
    return g / np.maximum(np.linalg.norm(g, axis=-1, keepdims=True), 1e-12)


def raycast(dirs: np.ndarray, t_start: float = 0.26, iters: int = 5) -> np.ndarray:
    """Distance along unit rays from the origin to the outermost surface crossing. dirs (N,3) -> (N,).

    Marches inward from outside the head with steps of 0.7 x the (approximate) distance until the
    first point inside, then refines the last bracket by regula falsi (Illinois variant).
    """
    n = len(dirs)
    t = np.full(n, t_start)
    t_out, d_out, d_in = t.copy(), np.zeros(n), np.zeros(n)
    active = np.arange(n)
    for _ in range(400):
        d = head_sdf(dirs[active] * t[active, None])
        hit = d <= 0
        d_in[active[hit]] = d[hit]
        miss = active[~hit]
        t_out[miss], d_out[miss] = t[miss], d[~hit]
        t[miss] -= np.maximum(0.7 * d[~hit], 2e-4)
        active = miss
        if not len(active):
            break
    else:
        raise RuntimeError("head SDF is not hit by every ray from the origin")
    t_in = t
    side = np.zeros(n)
    for _ in range(iters):
        tm = t_out - d_out * (t_out - t_in) / np.maximum(d_out - d_in, 1e-15)
        dm = head_sdf(dirs * tm[:, None])
        out = dm > 0
        t_out, d_out = np.where(out, tm, t_out), np.where(out, dm, d_out)
        t_in, d_in = np.where(out, t_in, tm), np.where(out, d_in, dm)
        # Illinois: halve the value kept twice in a row so the bracket keeps shrinking from both ends
        d_in = np.where(out & (side > 0), 0.5 * d_in, d_in)
        d_out = np.where(~out & (side < 0), 0.5 * d_out, d_out)
        side = np.where(out, 1.0, -1.0)
    return t_out - d_out * (t_out - t_in) / np.maximum(d_out - d_in, 1e-15)
