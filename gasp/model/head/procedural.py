"""The procedural head model: mesh, regions, landmarks, skinning and bases, built deterministically.

The surface is a latitude-longitude grid (theta from the crown pole to the neck-bottom pole, phi
around +Y with phi = 0 toward +Z) ray-cast onto the SDF of shape.py, with rows and columns spaced
by arc length and denser on the face, ears and lips. The mouth is a real pocket: around the lip
line a band of rows is folded back into the head (a cavity whose roof belongs to the upper lip and
whose floor to the lower lip), so opening the jaw opens the mouth while the mesh stays one closed
2-manifold. Every vertex also has an "anchor" (its position with the pocket folded flat onto the
lip line): bases and weights are smooth functions of the anchor, so the pocket follows the lips.
"""
from __future__ import annotations

import numpy as np

from gasp.model.head import shape as S
from gasp.model.head.bases import expression_basis, identity_basis
from gasp.model.head.layout import uv_layout
from gasp.model.head.model import JOINTS, PARENTS, REGIONS, HeadArrays
from gasp.model.head.surface import closest_points

POCKET_DEPTH = 0.030        # mouth cavity depth behind the lip line (m)
POCKET_HALF_H = 0.0085      # cavity roof/floor bulge (m)
POCKET_LIP_GAP = 0.0004     # half gap between the lips at rest (m)


def _smoothstep(e0, e1, x):
    t = np.clip((np.asarray(x, float) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _dirs(theta, phi):
    st = np.sin(theta)
    return np.stack([st * np.sin(phi), np.cos(theta), st * np.cos(phi)], -1)


def _warp(x, density, t):
    """Map t in [x0, x1] through the inverse CDF of density(x): equal density mass between samples."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(x))])
    cdf = x[0] + (x[-1] - x[0]) * cdf / cdf[-1]
    return np.interp(t, cdf, x)


def _grid(detail: int):
    """Column angles phi (M,) (mirror-symmetric: phi[j] = -phi[M-j], phi[M/2] = 0) and row angles
    theta (R,) including both poles."""
    n_cols = 104 + 16 * detail
    n_rows = 80 + 12 * detail
    f = np.linspace(-np.pi, np.pi, 4001)
    dens = (1.0 + 1.4 * np.exp(-(f / 0.75) ** 2) + 0.6 * np.exp(-((np.abs(f) - 0.36) / 0.15) ** 2)
            + 0.9 * np.exp(-((np.abs(f) - 1.45) / 0.22) ** 2))
    t = -np.pi + 2 * np.pi * np.arange(n_cols) / n_cols
    phi = _warp(f, dens, t)
    phi = 0.5 * (phi - phi[(-np.arange(n_cols)) % n_cols])
    phi[0] = -np.pi
    # arc length along the front, side and back meridians sets the base row spacing
    th = np.linspace(0.0, np.pi, 721)
    rate = np.zeros_like(th)
    for ph in (0.0, np.pi / 2, np.pi):
        d = _dirs(th, np.full_like(th, ph))
        seg = np.linalg.norm(np.diff(S.raycast(d)[:, None] * d, axis=0), axis=-1)
        rate += np.concatenate([seg, seg[-1:]]) / 3
    mouth_theta = np.arccos(S.MOUTH_Y / 0.105)
    importance = (1.0 + 0.9 * _smoothstep(0.55, 0.85, th) * (1 - _smoothstep(2.45, 2.65, th))
                  + 2.2 * np.exp(-((th - mouth_theta) / 0.075) ** 2) + 1.2 * np.exp(-((th - 1.24) / 0.07) ** 2))
    theta = _warp(th, rate * importance + 1e-6, np.linspace(0.0, np.pi, n_rows))
    return phi, theta


def _mouth_line(phi):
    """theta (M,) at which each column crosses the lip line, and the pocket strength m (M,) in [0,1]."""
    th = np.linspace(1.75, 2.35, 61)
    front = np.abs(phi) < 1.0
    m = np.zeros_like(phi)
    theta_m = np.full_like(phi, 2.0)
    T, P = np.meshgrid(th, phi[front], indexing="ij")
    d = _dirs(T.ravel(), P.ravel())
    pts = S.raycast(d)[:, None] * d
    y = pts[:, 1].reshape(T.shape)
    x = np.abs(pts[:, 0]).reshape(T.shape)
    for k, col in enumerate(np.flatnonzero(front)):
        theta_m[col] = np.interp(-S.MOUTH_Y, -y[:, k], th)          # y decreases with theta
        x_line = np.interp(theta_m[col], th, x[:, k])
        m[col] = 1.0 - _smoothstep(0.62, 1.0, x_line / S.MOUTH_HALF_W)
    return theta_m, m


POCKET_ROWS = 3             # rows on each side of the lip line folded into the cavity (at full width)
SQUEEZE_ROWS = 5            # rows beyond those that make room for them


def _surface(phi, theta):
    """Ring vertices, anchors (R-2, M, 3), pocket coordinate u (nan outside) and depth (R-2, M).

    The same ring indices form the pocket in every column (so the cavity has no column-to-column
    jitter): ring k rows from the lip ring is inside when |k| < POCKET_ROWS * m(phi); the rows up to
    SQUEEZE_ROWS further are re-spaced between the lip line and their outer neighbour.
    """
    theta_m, m = _mouth_line(phi)
    rings = theta[1:-1]
    mid = int(np.argmin(np.abs(rings - theta_m[len(phi) // 2])))
    theta_m = np.where(m > 0, theta_m, rings[mid])
    k = (np.arange(len(rings)) - mid)[:, None].astype(float)
    w = POCKET_ROWS * m[None, :]
    n_out = POCKET_ROWS + SQUEEZE_ROWS
    gap = 0.35                                   # rows: keeps the two lips from touching exactly
    t_edge = np.where(k < 0, rings[mid - n_out], rings[mid + n_out])
    frac = (np.abs(k) - w + gap) / (n_out - w + gap)
    band = (np.abs(k) < n_out) & (np.abs(k) >= w)
    theta_b = np.where(band, theta_m + frac * (t_edge - theta_m), rings[:, None])
    pocket = np.abs(k) < w
    theta_b = np.where(pocket, theta_m, theta_b)
    Tb, P = np.broadcast_arrays(theta_b, phi[None, :])
    d = _dirs(Tb.ravel(), P.ravel())
    anchor = (S.raycast(d)[:, None] * d).reshape(*Tb.shape, 3)
    u = np.where(pocket, k / np.maximum(w, 1e-12), 0.0)
    mm = np.broadcast_to(m[None, :], u.shape)
    depth = np.where(pocket, mm * POCKET_DEPTH * np.sqrt(np.clip(1 - u * u, 0, 1)), 0.0)
    dy = np.where(pocket, -mm * u * (POCKET_LIP_GAP + POCKET_HALF_H * (1 - u * u)), 0.0)
    verts = anchor + np.stack([np.zeros_like(depth), dy, -depth], -1)
    return verts, anchor, np.where(pocket, u, np.nan), depth


def _faces(n_rings, n_cols):
    """Triangles of the pole-capped grid, outward-oriented. Vertex 0 = crown, last = neck bottom."""
    ring = lambda i: 1 + i * n_cols + np.arange(n_cols)  # noqa: E731
    bottom = 1 + n_rings * n_cols
    faces = [np.stack([np.zeros(n_cols, int), ring(0), np.roll(ring(0), -1)], -1)]
    for i in range(n_rings - 1):
        a, b = ring(i), ring(i + 1)
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        faces += [np.stack([a, b, b1], -1), np.stack([a, b1, a1], -1)]
    a = ring(n_rings - 1)
    faces.append(np.stack([a, np.full(n_cols, bottom), np.roll(a, -1)], -1))
    return np.concatenate(faces).astype(np.int64)


def _interp_hairline(az):
    """Height of the hairline (m) at azimuth |atan2(x, z)| in degrees (0 = front, 180 = nape)."""
    knots = [0, 30, 50, 66, 76, 81, 88, 100, 112, 125, 150, 180]
    hts = [0.090, 0.085, 0.072, 0.052, 0.036, -0.002, 0.034, 0.034, 0.020, -0.035, -0.068, -0.076]
    return np.interp(az, knots, hts)


def _regions(anchor_c, normal_c, depth_c):
    """Per-face labels from face centroids of the anchors (F,3), their normals and pocket depth."""
    x, y, z = anchor_c.T
    ax = np.abs(x)
    mirrored = np.stack([ax, y, z], -1)
    lab = np.zeros(len(x), dtype=np.int64)
    rid = {n: i for i, n in enumerate(REGIONS)}
    az = np.degrees(np.arctan2(ax, z))
    lab[y > _interp_hairline(az)] = rid["scalp"]
    neck = (y < -0.105) | ((y < -0.072) & (normal_c[:, 1] < -0.55)) | ((y < -0.06) & (az > 100))
    lab[neck & (lab != rid["scalp"])] = rid["neck"]
    q = S.ear_local(mirrored)
    ear = (ax > 0.066) & ((q[:, 1] / 0.037) ** 2 + (q[:, 2] / 0.024) ** 2 < 1) & (q[:, 0] > -0.012)
    lab[ear] = rid["ears"]
    arch = 0.0465 + 0.003 * (1 - ((ax - 0.03) / 0.024) ** 2)
    brow = (((ax - 0.031) / 0.025) ** 2 + ((y - arch) / 0.0058) ** 2 < 1) & (z > 0.05)
    lab[brow] = rid["brows"]
    eye = (np.linalg.norm(mirrored - S.EYE, axis=-1) < S.EYE_R + 0.0007) & (z > S.EYE[2] + 0.004)
    lab[eye] = rid["eyes"]
    h = np.where(y > S.MOUTH_Y, 0.0105, 0.0120)
    lips = ((ax / (S.MOUTH_HALF_W + 0.0015)) ** 2 + ((y - S.MOUTH_Y) / h) ** 2 < 1) & (z > 0.07)
    lab[lips] = rid["lips"]
    lab[depth_c > 0.0025] = rid["mouth"]
    return lab


LANDMARKS = {   # name -> approximate 3D target (projected onto the template surface)
    "eye_outer_l": [S.EYE[0] + S.EYE_OPEN[0], S.EYE[1] + 0.0015, 0.080],
    "eye_inner_l": [S.EYE[0] - S.EYE_OPEN[0], S.EYE[1] - 0.0005, 0.082],
    "eye_upper_l": [S.EYE[0], S.EYE[1] + S.EYE_OPEN[1], 0.086],
    "eye_lower_l": [S.EYE[0], S.EYE[1] - S.EYE_OPEN[1], 0.086],
    "pupil_l": [S.EYE[0], S.EYE[1], 0.090],
    "brow_inner_l": [0.014, 0.046, 0.094],
    "brow_mid_l": [0.033, 0.050, 0.090],
    "brow_outer_l": [0.052, 0.047, 0.078],
    "nose_ala_l": [0.020, -0.018, 0.102],
    "mouth_corner_l": [S.MOUTH_HALF_W - 0.0005, S.MOUTH_Y, 0.092],
    "cheekbone_l": [0.060, 0.006, 0.076],
    "jaw_angle_l": [0.062, -0.068, 0.000],
    "ear_top_l": [0.088, 0.030, -0.020],
    "ear_lobe_l": [0.080, -0.034, -0.006],
    "tragus_l": [0.078, -0.006, 0.006],
    "nasion": [0.0, 0.034, 0.100],
    "nose_tip": [0.0, S.NOSE_TIP[1], 0.140],
    "subnasale": [0.0, -0.026, 0.105],
    "upper_lip": [0.0, S.MOUTH_Y + 0.007, 0.110],
    "lower_lip": [0.0, S.MOUTH_Y - 0.008, 0.110],
    "chin": [0.0, -0.075, 0.110],
    "menton": [0.0, -0.093, 0.075],
    "forehead": [0.0, 0.075, 0.110],
    "vertex": [0.0, 0.140, 0.0],
    "inion": [0.0, 0.0, -0.130],
}


def _landmarks(verts, faces):
    """Each LANDMARKS target (and its mirror for "_l" names) -> (face id, barycentrics) of a nearby
    surface point: the target projected into the nearest of 24 candidate triangles."""
    named = []
    for name, p in LANDMARKS.items():
        named.append((name, np.asarray(p, float)))
        if name.endswith("_l"):
            named.append((name[:-2] + "_r", np.asarray(p, float) * [-1, 1, 1]))
    face_ids, barys = closest_points(verts, faces, np.stack([p for _, p in named]))
    return {name: (int(f), b) for (name, _), f, b in zip(named, face_ids, barys)}


def _skinning(anchor, u):
    """LBS weights (V,5) over JOINTS from anchors (V,3) and pocket coordinate u (V,) (nan outside)."""
    x, y, z = anchor.T
    head = _smoothstep(-0.172, -0.098, y + 0.25 * np.clip(z, 0, None))
    # jaw: below the plane through the lip line and the jaw hinge, widening beyond the mouth corners
    line_y = S.TMJ[1] + (S.MOUTH_Y - S.TMJ[1]) * (z - S.TMJ[2]) / (0.1 - S.TMJ[2])
    below = line_y - y
    width = 0.0015 + 0.012 * _smoothstep(0.8 * S.MOUTH_HALF_W, 2.2 * S.MOUTH_HALF_W, np.abs(x))
    jaw = _smoothstep(-width, width, below)
    jaw = np.where(np.isnan(u), jaw, _smoothstep(-0.7, 0.7, np.nan_to_num(u)))
    jaw = jaw * _smoothstep(-0.035, 0.02, z) * _smoothstep(-0.125, -0.100, y + 0.3 * np.clip(z, 0, None) - 0.02)
    w = np.zeros((len(x), len(JOINTS)))
    w[:, 0] = 1 - head
    w[:, 1] = head * (1 - jaw)
    w[:, 2] = head * jaw
    return w


def _joint_regressor(template, u):
    """(J,V): each joint is the mean of a few symmetric template vertices around where it belongs."""
    targets = {
        "root": [[0.056, -0.17, -0.02], [-0.056, -0.17, -0.02], [0, -0.17, 0.038], [0, -0.17, -0.078]],
        "neck": [[0.056, -0.095, -0.02], [-0.056, -0.095, -0.02], [0, -0.095, 0.02], [0, -0.095, -0.06]],
        "jaw": [S.TMJ, S.TMJ * [-1, 1, 1]],
        "eye_l": [S.EYE + [0, 0, S.EYE_R]],
        "eye_r": [S.EYE * [-1, 1, 1] + [0, 0, S.EYE_R]],
    }
    usable = np.isnan(u)
    idx_ok = np.flatnonzero(usable)
    reg = np.zeros((len(JOINTS), len(template)))
    for j, name in enumerate(JOINTS):
        for t in targets[name]:
            k = idx_ok[np.argmin(np.linalg.norm(template[idx_ok] - np.asarray(t), axis=-1))]
            reg[j, k] += 1.0 / len(targets[name])
    return reg


def build_arrays(n_shape: int, n_expr: int, detail: int) -> HeadArrays:
    """The procedural head model as arrays (deterministic: no randomness but seeded generators)."""
    phi, theta = _grid(detail)
    ring_v, ring_a, ring_u, ring_d = _surface(phi, theta)
    n_rings, n_cols = ring_v.shape[:2]
    top = np.array([[0.0, S.raycast(np.array([[0.0, 1.0, 0.0]]))[0], 0.0]])
    bot = np.array([[0.0, -S.raycast(np.array([[0.0, -1.0, 0.0]]))[0], 0.0]])
    verts = np.concatenate([top, ring_v.reshape(-1, 3), bot])
    anchor = np.concatenate([top, ring_a.reshape(-1, 3), bot])
    u = np.concatenate([[np.nan], ring_u.ravel(), [np.nan]])
    depth = np.concatenate([[0.0], ring_d.ravel(), [0.0]])
    faces = _faces(n_rings, n_cols)
    normal = S.sdf_normal(anchor)
    face_normal = normal[faces].mean(1)
    face_normal /= np.linalg.norm(face_normal, axis=-1, keepdims=True)
    regions = _regions(anchor[faces].mean(1), face_normal, depth[faces].max(1))
    uvs, uv_faces = uv_layout(theta, phi, verts, faces, n_rings, n_cols)
    n_joints = len(JOINTS)
    return HeadArrays(
        template=verts, faces=faces, uvs=uvs, uv_faces=uv_faces, face_regions=regions,
        shapedirs=identity_basis(anchor, normal, n_shape),
        exprdirs=expression_basis(anchor, normal, n_expr),
        posedirs=np.zeros((len(verts), 3, 9 * (n_joints - 1))),
        J_regressor=_joint_regressor(verts, u), weights=_skinning(anchor, u), parents=np.array(PARENTS),
        regions=REGIONS, landmarks=_landmarks(verts, faces))
