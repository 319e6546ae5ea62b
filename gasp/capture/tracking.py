"""Head tracking: the head model fitted to FaceMesh landmarks.

Unknowns: one identity (shape coefficients) for the whole capture; per frame the expression, the
jaw and the head pose (`global_rt`, seen by one fixed camera); for a video also the focal length.
The neck stays at rest: the head pose carries the rotation, and the torso is not modelled.

The objective is a MAP estimate: landmark residuals in units of the face size with noise SIGMA,
each landmark weighted by how well FaceMesh and the head model agree there (the registration's
spread, gasp/capture/correspondence.py), a Cauchy loss against outliers, unit Gaussian priors on
the shape and expression coefficients, a jaw prior, and for video a smoothness prior between
consecutive frames. Initialisation: PnP on the neutral template, then the rigid pose alone, then
everything.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gasp.steps.fit import Adam

SIGMA = 0.02             # landmark noise, fraction of the face size (FaceMesh's errors are correlated)
CAUCHY = 0.06            # residuals beyond ~this fraction of the face size count less and less
JAW_OPEN_STD = 0.15      # rad: the jaw opens about its x axis; the other axes barely move
JAW_SIDE_STD = 0.02
SMOOTH_STD = {"expr": 1.0, "jaw": 0.15, "rot": 0.15, "trans": 0.02}  # per-frame change (video; frames may be subsampled)
FOCAL_LOG_STD = 0.3      # video: the focal length may leave its prior by about +-30%
# Steps of the full fit. A photo's PnP start can lie tens of degrees off in pitch (a near-planar face
# seen with little perspective: scikit-image's astronaut starts at -60 degrees and settles at -17),
# and the pose walks there slowly while shape and expression follow; 240 steps left it at -39. A
# photo is one frame, so it takes the steps that settle it (seconds). Video frames start near their
# optimum: 1000 steps move their median rotation error by under 1 degree.
FULL_STEPS = {"video": 240, "image": 1000}


@dataclass
class Track:
    """shape (S,); expr (T,E); jaw, neck (T,3); global_rt (T,6) world pose of the head; K (3,3);
    reproj_px (T,) weighted mean landmark error (pixels) of the reliable landmarks; face_px (T,)."""
    shape: np.ndarray
    expr: np.ndarray
    jaw: np.ndarray
    neck: np.ndarray
    global_rt: np.ndarray
    K: np.ndarray
    reproj_px: np.ndarray
    face_px: np.ndarray
    seconds: float = 0.0


def face_size(landmarks: np.ndarray) -> np.ndarray:
    """(T,L,2) -> (T,) height of the landmarks' bounding box (pixels)."""
    return np.ptp(landmarks[..., 1], axis=-1)


def _rodrigues_to_matrix(rvec: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))[0]


def pnp_pose(points: np.ndarray, pixels: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> np.ndarray:
    """global_rt (6,) placing model points (P,3) so that the camera (K, w2c) sees them at pixels (P,2)."""
    import cv2

    ok, rvec, tvec = cv2.solvePnP(points.astype(np.float64), pixels.astype(np.float64), K.astype(np.float64), None,
                                  flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(points.astype(np.float64), pixels.astype(np.float64), K.astype(np.float64),
                                      None, rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    c2w = np.linalg.inv(w2c)
    if not ok or tvec[2, 0] <= 0:  # fall back to a frontal head 0.6 m in front of the camera
        rvec, tvec = cv2.Rodrigues(np.diag([1.0, -1.0, -1.0]))[0], np.array([[0.0], [0.0], [0.6]])
    R_world = c2w[:3, :3] @ _rodrigues_to_matrix(rvec)
    t_world = c2w[:3, :3] @ tvec[:, 0] + c2w[:3, 3]
    return np.concatenate([cv2.Rodrigues(R_world)[0][:, 0], t_world])


def track(head, face_ids: np.ndarray, barys: np.ndarray, weights: np.ndarray, landmarks: np.ndarray,
          K: np.ndarray, w2c: np.ndarray, video: bool, rigid_steps: int = 60, steps: int | None = None,
          progress=None) -> Track:
    """Fit the head model to landmarks.

    head: HeadModel; face_ids (L,), barys (L,3): the landmarks on the head model; weights (L,);
    landmarks (T,L,2) pixels in time order; K (3,3) the focal prior (refined when `video`);
    w2c (4,4) the fixed camera; steps: of the full fit (default FULL_STEPS). progress: optional
    callable(steps_done, total).
    """
    import time

    t0 = time.perf_counter()
    T, L = landmarks.shape[:2]
    dev, f32 = head.template.device, torch.float32
    tt = lambda a: torch.as_tensor(np.asarray(a), dtype=f32, device=dev)  # noqa: E731
    faces = head.faces[torch.as_tensor(face_ids)]                          # (L,3) vertex ids
    used, inverse = torch.unique(faces.reshape(-1), return_inverse=True)
    inverse = inverse.reshape(L, 3)
    bary = tt(barys)
    w = tt(weights)
    y = tt(landmarks)                                                      # (T,L,2)
    scale = tt(face_size(landmarks)).clamp_min(1.0)                        # (T,)
    w2c_t = tt(w2c)

    # initial pose per frame: PnP on the neutral template's landmark points (reliable ones)
    template_pts = (barys[:, :, None] * head.template.detach().cpu().numpy()[head.faces.cpu().numpy()[face_ids]]).sum(1)
    good = weights > 0.5
    rt0 = np.stack([pnp_pose(template_pts[good], landmarks[t][good], K, w2c) for t in range(T)])

    S, E = head.n_shape, head.n_expr
    p = {"shape": torch.zeros(S, device=dev), "expr": torch.zeros(T, E, device=dev),
         "jaw": torch.zeros(T, 3, device=dev), "rot": tt(rt0[:, :3]), "trans": tt(rt0[:, 3:]),
         "logf": torch.zeros(1, device=dev)}
    for v in p.values():
        v.requires_grad_(True)
    lrs = {"shape": 0.05, "expr": 0.05, "jaw": 0.01, "rot": 0.01, "trans": 0.002, "logf": 0.01}
    K0 = tt(K)

    def intrinsics(logf):
        Kt = K0.clone()
        Kt[0, 0] = K0[0, 0] * torch.exp(logf[0])
        Kt[1, 1] = K0[1, 1] * torch.exp(logf[0])
        return Kt

    def residuals(q):
        rt = torch.cat([q["rot"], q["trans"]], 1)
        verts = head.verts(q["shape"].expand(T, S), q["expr"], q["jaw"], torch.zeros(T, 3, device=dev), rt,
                           vertex_ids=used)                                  # (T,U,3)
        pts = (bary[None, :, :, None] * verts[:, inverse]).sum(2)            # (T,L,3)
        cam = pts @ w2c_t[:3, :3].T + w2c_t[:3, 3]
        uvw = cam @ intrinsics(q["logf"]).T
        proj = uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-3)
        return (proj - y) / scale[:, None, None]                             # (T,L,2) in face sizes

    def objective(q, rigid: bool):
        r2 = (residuals(q) ** 2).sum(-1)                                     # (T,L)
        data = (w * CAUCHY ** 2 * torch.log1p(r2 / CAUCHY ** 2)).sum() / (2 * SIGMA ** 2)
        if rigid:
            return data
        prior = 0.5 * (q["shape"] ** 2).sum() + 0.5 * (q["expr"] ** 2).sum()
        prior = prior + 0.5 * ((q["jaw"][:, 0] / JAW_OPEN_STD) ** 2).sum() \
            + 0.5 * ((q["jaw"][:, 1:] / JAW_SIDE_STD) ** 2).sum()
        if video:
            prior = prior + 0.5 * (q["logf"][0] / FOCAL_LOG_STD) ** 2
            if T > 1:
                for k, sd in SMOOTH_STD.items():
                    prior = prior + 0.5 * ((torch.diff(q[k], dim=0) / sd) ** 2).sum()
        return data + prior

    steps = FULL_STEPS["video" if video else "image"] if steps is None else steps
    total = rigid_steps + steps
    done = 0
    for phase, n, names in (("rigid", rigid_steps, ("rot", "trans")),
                            ("full", steps, ("shape", "expr", "jaw", "rot", "trans") + (("logf",) if video else ()))):
        opts = {k: Adam([p[k]], lrs[k]) for k in names}
        for i in range(n):
            for k, opt in opts.items():  # cosine decay to zero
                opt.zero_grad()
                opt.lr = lrs[k] * 0.5 * (1 + np.cos(np.pi * i / n))
            objective(p, phase == "rigid").backward()
            for opt in opts.values():
                opt.step()
            done += 1
            if progress is not None:
                progress(done, total)

    with torch.no_grad():
        res = residuals(p)                                                   # (T,L,2)
        err_px = res.norm(dim=-1) * scale[:, None]
        reliable = w > 0.5
        reproj = (err_px[:, reliable] * w[reliable]).sum(1) / w[reliable].sum()
        Kf = intrinsics(p["logf"]).cpu().numpy().astype(np.float64)
        rt = torch.cat([p["rot"], p["trans"]], 1)
    return Track(shape=p["shape"].detach().cpu().numpy(), expr=p["expr"].detach().cpu().numpy(),
                 jaw=p["jaw"].detach().cpu().numpy(), neck=np.zeros((T, 3), np.float32),
                 global_rt=rt.cpu().numpy(), K=Kf, reproj_px=reproj.cpu().numpy(),
                 face_px=face_size(landmarks), seconds=time.perf_counter() - t0)


def carry_refinement(global_rt: np.ndarray, fit_ids: np.ndarray, refined: np.ndarray) -> np.ndarray:
    """All frames' poses after the fit refined those of frames fit_ids (n,): global_rt (T,6) tracked,
    refined (n,6) -> (T,6). A frame the fit did not see (a held-out video frame) takes the mean
    correction of its nearest fitted neighbours before and after it, so that held-out frames are
    scored in the same frame as the fitted ones."""
    from scipy.spatial.transform import Rotation

    fit_ids = np.asarray(fit_ids)
    rot = Rotation.from_rotvec(refined[:, :3]) * Rotation.from_rotvec(global_rt[fit_ids, :3]).inv()
    trans = refined[:, 3:] - global_rt[fit_ids, 3:]
    out = global_rt.copy()
    out[fit_ids] = refined
    for t in np.setdiff1d(np.arange(len(global_rt)), fit_ids):
        k = np.searchsorted(fit_ids, t)
        near = [j for j in (k - 1, k) if 0 <= j < len(fit_ids)]
        d = rot[near].mean()
        out[t, :3] = (d * Rotation.from_rotvec(global_rt[t, :3])).as_rotvec()
        out[t, 3:] = global_rt[t, 3:] + trans[near].mean(0)
    return out.astype(global_rt.dtype)
