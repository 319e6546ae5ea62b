"""The one renderer of bound Gaussians: bind attributes to the posed triangles (gasp/model/gaussians.py)
and rasterize (gasp/model/render) one frame per camera. Training, fitting, evaluation, turntables and
figures all draw through `splat_frames`."""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from gasp.config import AvatarConfig
from gasp.model.gaussians import gaussians_from_attributes
from gasp.model.head.uv import Binding
from gasp.model.render import rasterize


def compact_binding(faces: Tensor, binding: Binding) -> tuple[Tensor, Binding]:
    """Only the bound triangles: (faces (F',3), binding with face_ids into them). Same Gaussians, but
    binding computes triangle frames for F' <= N triangles instead of the whole mesh."""
    used, inverse = torch.unique(binding.face_ids, return_inverse=True)
    return faces[used], Binding(face_ids=inverse, barys=binding.barys, regions=binding.regions, uv=binding.uv)


def splat_frames(attrs: Tensor, verts: Tensor, faces: Tensor, binding: Binding, avatar_cfg: AvatarConfig,
                 K: Tensor, w2c: Tensor, width: int, height: int, background: Tensor,
                 timer=None) -> tuple[Tensor, Tensor]:
    """Render bound Gaussians, one frame per camera (differentiable): the one renderer of training,
    fitting, evaluation, turntables and figures.

    attrs (N,A) or (T,N,A); verts (T,V,3) the posed mesh per frame; faces, binding as bound (or
    compacted by `compact_binding`); K (T,3,3); w2c (T,4,4);
    background (3,) -> rgb (T,H,W,3) composited over the background, alpha (T,H,W,1).
    `timer` (optional, gasp/steps/train_prior/timer.py `Timer`) accumulates the seconds of "bind"
    and "render".
    """
    with _section(timer, "bind"):
        means, quats, scales, opacities, colors = gaussians_from_attributes(attrs, verts, faces, binding,
                                                                            avatar_cfg.scale_mode)
    with _section(timer, "render"):
        rgbs, alphas = [], []
        for t in range(verts.shape[0]):
            rgb, alpha, _ = rasterize(means[t], quats[t], scales[t], opacities[t], colors[t], w2c[t:t + 1],
                                      K[t:t + 1], width, height, sh_degree=avatar_cfg.sh_degree,
                                      backgrounds=background[None])
            rgbs.append(rgb[0])
            alphas.append(alpha[0])
        return torch.stack(rgbs), torch.stack(alphas)


def _section(timer, name: str):
    return timer.section(name) if timer is not None else contextlib.nullcontext()
