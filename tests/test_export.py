"""The 3DGS .ply export, the avatar package file and the turntable (no fitting needed: template Gaussians)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from plyfile import PlyData

from gasp.camera import orbit_camera
from gasp.model.fitted_avatar import Avatar, Motion
from gasp.steps.export import export_ply, ply_property_names, posed_gaussians, read_ply, turntable
from tiny_avatar import tiny_avatar


@pytest.fixture(scope="module")
def avatar():
    return tiny_avatar()


def test_ply_has_standard_names_and_values(avatar, tmp_path):
    motion = Motion.neutral(1, avatar.head.n_expr)
    motion.expr[0, 0] = 1.5  # an expression: the offset MLP and the mesh both move the Gaussians
    size = export_ply(avatar, tmp_path / "a.ply", motion)
    ply = PlyData.read(str(tmp_path / "a.ply"))
    assert [p.name for p in ply["vertex"].properties] == ply_property_names(0)
    assert ply_property_names(0)[:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    assert ply_property_names(0)[9:] == ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2",
                                         "rot_3"]
    assert all(p.val_dtype == "f4" for p in ply["vertex"].properties)
    v = read_ply(tmp_path / "a.ply")
    g = posed_gaussians(avatar, motion)
    assert len(v["x"]) == avatar.n_gaussians
    np.testing.assert_array_equal(np.stack([v["x"], v["y"], v["z"]], 1), g["means"])
    np.testing.assert_array_equal(np.stack([v[f"rot_{i}"] for i in range(4)], 1), g["quats"])
    np.testing.assert_array_equal(np.stack([v[f"f_dc_{i}"] for i in range(3)], 1), g["sh"][:, 0])
    np.testing.assert_allclose(np.exp(np.stack([v[f"scale_{i}"] for i in range(3)], 1)), g["scales"], rtol=1e-5)
    np.testing.assert_allclose(1 / (1 + np.exp(-v["opacity"])), g["opacities"], rtol=1e-5, atol=1e-7)
    assert size == (tmp_path / "a.ply").stat().st_size
    assert not np.allclose(posed_gaussians(avatar, Motion.neutral(1, avatar.head.n_expr))["means"], g["means"])


def test_ply_f_rest_layout_at_sh_degree_1():
    names = ply_property_names(1)
    assert [n for n in names if n.startswith("f_rest_")] == [f"f_rest_{i}" for i in range(9)]


def test_package_roundtrip_and_half(avatar, tmp_path):
    motion = Motion.neutral(2, avatar.head.n_expr)
    motion.expr[1, :3] = 1.0
    K, w2c = zip(*(orbit_camera(y, 0, 1.0, 50.0, 48, 48) for y in (0, 180)))
    full = avatar.save(tmp_path / "a.npz")
    half = avatar.save(tmp_path / "h.npz", half=True)
    assert half < full
    a = Avatar.load(tmp_path / "a.npz")
    assert a.meta == {"method": "test"} and a.mlp is not None
    r0 = avatar.render(motion, np.stack(K), np.stack(w2c), 48, 48)
    r1 = a.render(motion, np.stack(K), np.stack(w2c), 48, 48)
    assert torch.equal(r0[0], r1[0]) and torch.equal(r0[1], r1[1])
    assert r0[1].max() > 0.5  # the head is in view
    rh = Avatar.load(tmp_path / "h.npz").render(motion, np.stack(K), np.stack(w2c), 48, 48)
    assert (rh[0] - r0[0]).abs().mean() < 0.01


def test_turntable_gif(avatar, tmp_path):
    fps = turntable(avatar, tmp_path / "t.gif", frames=4, distance=1.0, focal_mm=50.0, size=32)
    assert fps > 0 and (tmp_path / "t.gif").stat().st_size > 0
    with pytest.raises(ValueError, match="mp4"):
        turntable(avatar, tmp_path / "t.avi", frames=2, distance=1.0, focal_mm=50.0, size=32)
