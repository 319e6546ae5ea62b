"""Gaussians bound to the head mesh (gasp/model/gaussians.py)."""
from __future__ import annotations

import pytest
import torch

from gasp.config import AvatarConfig, HeadConfig
from gasp.model.gaussians import (LOG_SCALE, OFFSET, OPACITY, QUAT, SH_DC, attribute_dim, gaussians_from_attributes,
                         matrix_to_quat, quat_multiply, template_attributes, triangle_frames)
from gasp.model.head import build_head_model
from gasp.model.head.model import axis_angle_to_matrix
from gasp.model.head.uv import uv_binding


@pytest.fixture(scope="module")
def setup():
    model = build_head_model(HeadConfig())
    return model, uv_binding(model, 96)


def _posed(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = model.zeros(3)
    p["expr"] = 1.5 * torch.randn(3, model.n_expr, generator=g)
    p["shape"] = torch.randn(3, model.n_shape, generator=g)
    p["jaw"][:, 0] = torch.tensor([0.0, 0.25, 0.4])
    p["neck"] = 0.3 * torch.randn(3, 3, generator=g)
    p["global_rt"] = 0.2 * torch.randn(3, 6, generator=g)
    with torch.no_grad():
        return model.verts(**p)


def _quat_to_matrix(q):
    w, x, y, z = q.unbind(-1)
    return torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).reshape(*q.shape[:-1], 3, 3)


def test_frames_orthonormal(setup):
    model, _ = setup
    v = _posed(model).double()
    for mode in ("edge", "area"):
        R, k = triangle_frames(v, model.faces, mode)
        eye = torch.eye(3, dtype=v.dtype)
        assert (R.transpose(-1, -2) @ R - eye).abs().max() < 1e-9
        assert (torch.linalg.det(R) - 1).abs().max() < 1e-9
        assert (k > 0).all()
    tri = v[:, model.faces]
    n = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
    assert ((R[..., 2] * n).sum(-1) > 0).all()                       # third column is the normal
    with pytest.raises(ValueError, match="scale_mode"):
        triangle_frames(v, model.faces, "volume")


def test_zero_offset_stays_on_surface(setup):
    model, b = setup
    attrs = template_attributes(b, AvatarConfig())
    for v in (model.template[None], _posed(model), _posed(model, seed=1)):
        means = gaussians_from_attributes(attrs, v, model.faces, b)[0]
        tri = v[:, model.faces[b.face_ids]]                            # (B,N,3,3)
        n = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
        n = n / n.norm(dim=-1, keepdim=True)
        assert ((means - tri[:, :, 0]) * n).sum(-1).abs().max() < 1e-5     # in the triangle's plane
        recon = (b.barys[None, :, :, None] * tri).sum(2)
        assert (means - recon).norm(dim=-1).max() < 1e-5                 # at its barycentric point


def test_attribute_mapping(setup):
    model, b = setup
    cfg = AvatarConfig(sh_degree=1, scale_mode="area")
    attrs = template_attributes(b, cfg)
    assert attrs.shape == (len(b), attribute_dim(1)) == (len(b), 23)
    g = torch.Generator().manual_seed(0)
    attrs[:, OFFSET] = 0.3 * torch.randn(len(b), 3, generator=g)
    attrs[:, QUAT] = torch.randn(len(b), 4, generator=g)
    attrs[:, SH_DC] = torch.randn(len(b), 3, generator=g)
    v = _posed(model)
    means, quats, scales, opac, colors = gaussians_from_attributes(attrs, v, model.faces, b, "area")
    B, N = v.shape[0], len(b)
    assert means.shape == (B, N, 3) and quats.shape == (B, N, 4) and scales.shape == (B, N, 3)
    assert opac.shape == (B, N) and colors.shape == (B, N, 4, 3)
    assert torch.allclose(quats.norm(dim=-1), torch.ones(B, N), atol=1e-5)
    assert torch.allclose(opac, torch.full((B, N), cfg.init_opacity), atol=1e-6)
    R, k = triangle_frames(v, model.faces, "area")
    R, k = R[:, b.face_ids], k[:, b.face_ids]
    assert torch.allclose(scales, torch.exp(torch.tensor(cfg.init_log_scale)) * k[..., None].expand(B, N, 3))
    origin = gaussians_from_attributes(template_attributes(b, cfg), v, model.faces, b, "area")[0]
    assert torch.allclose(means - origin, (R @ attrs[:, OFFSET, None])[..., 0] * k[..., None], atol=1e-6)
    q_local = attrs[:, QUAT] / attrs[:, QUAT].norm(dim=-1, keepdim=True)
    assert torch.allclose(_quat_to_matrix(quats), R @ _quat_to_matrix(q_local), atol=1e-5)
    assert torch.equal(colors[..., 0, :], attrs[:, SH_DC].expand(B, N, 3))
    assert attrs[:, LOG_SCALE].eq(cfg.init_log_scale).all() and attrs.shape[1] > OPACITY


def test_gradients_reach_attributes_and_pose(setup):
    model, b = setup
    attrs = template_attributes(b, AvatarConfig()).requires_grad_()
    p = {k: v.requires_grad_() for k, v in model.zeros(1).items()}
    out = gaussians_from_attributes(attrs, model.verts(**p), model.faces, b)
    sum(o.sum() for o in out).backward()
    assert attrs.grad.abs().sum() > 0 and p["jaw"].grad.abs().sum() > 0 and p["expr"].grad.abs().sum() > 0


def test_quaternion_helpers():
    g = torch.Generator().manual_seed(0)
    R = axis_angle_to_matrix(2.5 * torch.randn(500, 3, generator=g, dtype=torch.float64))
    q = matrix_to_quat(R)
    assert torch.allclose(_quat_to_matrix(q), R, atol=1e-9)
    a, c = matrix_to_quat(R[:250]), matrix_to_quat(R[250:])
    assert torch.allclose(_quat_to_matrix(quat_multiply(a, c)), R[:250] @ R[250:], atol=1e-9)
