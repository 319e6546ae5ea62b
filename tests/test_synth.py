"""synth/ without Blender: seeded samplers, the protocol layout, camera conventions, eval degradations."""
import numpy as np
import pytest

from gasp import camera
from gasp.camera import DATASET_LOOK_TARGET
from gasp.config import SynthConfig
from synth import cameras, samplers
from synth.domain import degrade


def test_subject_seeds_reproducible_and_domains_disjoint():
    prior = {samplers.subject_seed(0, "prior", i) for i in range(200)}
    evals = {samplers.subject_seed(0, "eval", i) for i in range(200)}
    assert len(prior) == 200 and not prior & evals
    assert samplers.subject_seed(0, "prior", 5) == samplers.subject_seed(0, "prior", 5)
    assert samplers.subject_seed(1, "prior", 5) != samplers.subject_seed(0, "prior", 5)


def test_sample_subject_is_deterministic_and_varied():
    cfg = SynthConfig()
    a, b = (samplers.sample_subject(cfg, 60, 12, "prior", 3) for _ in range(2))
    assert a.seed == b.seed and np.array_equal(a.shape, b.shape) and np.array_equal(a.expr, b.expr)
    assert a.appearance == b.appearance and a.hair == b.hair
    assert a.expr.shape == (cfg.prior_views, 12) and a.global_rt.shape == (cfg.prior_views, 6)
    tones = [samplers.sample_subject(cfg, 60, 12, "prior", i).appearance["skin_tone"] for i in range(60)]
    assert min(tones) < 0.1 and max(tones) > 0.9  # very light to very dark


def test_identity_is_truncated_normal():
    z = np.stack([samplers.sample_subject(SynthConfig(), 60, 12, "prior", i).shape for i in range(200)])
    assert np.abs(z).max() <= 2.0 and 0.85 < z.std() < 0.95  # a 2-sigma truncated normal has std 0.88
    wide = np.stack([samplers.sample_subject(SynthConfig(identity_truncation=10.0), 60, 12, "prior", i).shape
                     for i in range(200)])
    assert np.abs(wide).max() > 3.0


def test_prior_cameras_cover_yaw_and_pitch():
    cfg = SynthConfig(prior_views=50)
    views = samplers.prior_cameras(np.random.default_rng(0), cfg, 50)
    centres = np.stack([np.linalg.inv(v.w2c)[:3, 3] for v in views])
    yaw = np.degrees(np.arctan2(centres[:, 0], centres[:, 2])) % 360
    pitch = np.degrees(np.arcsin((centres[:, 1] - DATASET_LOOK_TARGET[1]) / cfg.camera_distance))
    assert np.histogram(yaw, bins=8, range=(0, 360))[0].min() >= 4
    assert pitch.min() >= cfg.pitch_min_deg - 1e-6 and pitch.max() <= cfg.pitch_max_deg + 1e-6
    assert pitch.min() < -20 and pitch.max() > 35


def test_eval_protocol_groups_and_splits():
    cfg = SynthConfig(video_frames=12, video_test_every=4, ring_views=6, rig_cameras=16, rig_test_cameras=2)
    s = samplers.sample_subject(cfg, 60, 12, "eval", 0)
    groups = [v.group for v in s.views]
    splits = {g: [v.split for v in s.views if v.group == g] for g in ("video", "single", "ring", "rig")}
    assert groups == ["video"] * 12 + ["single"] + ["ring"] * 6 + ["rig"] * 16
    assert splits["video"] == ["test" if i % 4 == 0 else "train" for i in range(12)]
    assert splits["single"] == ["train"] and set(splits["ring"]) == {"test"} and splits["rig"].count("test") == 2
    video_yaw = np.degrees(np.linalg.norm(s.global_rt[:12, :3], axis=1))
    assert 25 < video_yaw.max() <= 45  # head turns about +-40 degrees
    assert np.allclose(s.global_rt[12:], 0) and len({v.w2c.tobytes() for v in s.views[:13]}) == 1  # fixed camera
    rig = np.array([v.w2c for v in s.views if v.group == "rig"])
    assert np.all(np.linalg.inv(rig)[:, 2, 3] > 0)  # frontal hemisphere


def test_opencv_look_at_and_blender_conversion():
    c2w = camera.look_at_c2w(camera.orbit_eye(0.0, 0.0, 2.0))
    K = camera.intrinsics(50.0, 64, 64)
    # a point on the subject's left (+X) appears on the image's right; up (+Y) appears above the centre
    uv, depth = camera.project(np.array([[0.1, 0, 0], [0, 0.1, 0]]), K, np.linalg.inv(c2w))
    assert uv[0, 0] > 32 and uv[1, 1] < 32 and np.allclose(depth, 2.0)
    bl = cameras.opencv_c2w_to_blender(c2w)
    assert np.allclose(bl[:3, 2], [0, 0, 1])  # Blender's camera looks down its -Z: toward the head at -Z
    assert np.allclose(bl[:3, 1], [0, 1, 0])  # Blender's camera +Y is image up
    assert np.allclose(cameras.blender_to_opencv_w2c(bl), np.linalg.inv(c2w))


def test_degrade_is_seeded_and_keeps_alpha():
    rgba = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    sensor = {"gain": [1.05, 1.0, 0.92], "noise_std": 0.02, "jpeg_quality": 80, "noise_seed": 3}
    a, b = degrade(rgba, sensor, 1), degrade(rgba, sensor, 1)
    assert np.array_equal(a, b) and np.array_equal(a[..., 3], rgba[..., 3])
    assert not np.array_equal(a, degrade(rgba, sensor, 2))


@pytest.mark.parametrize("domain", ["prior", "eval"])
def test_subject_assets_from_head_model(domain):
    """Textures and hair shell on the real head model: every part present, hair off the skin."""
    from gasp.config import HeadConfig
    from gasp.model.head import build_head_model
    from synth.assets import build_assets

    model = build_head_model(HeadConfig(mesh_detail=0))
    cfg = SynthConfig(prior_views=3, video_frames=2, ring_views=1, rig_cameras=2, rig_test_cameras=1)
    for index in range(8):  # find a subject with hair
        sample = samplers.sample_subject(cfg, model.n_shape, model.n_expr, domain, index)
        if not sample.hair["bald"]:
            break
    assets = build_assets(model, sample, 64)
    names = [p.name for p in assets.parts]
    assert names == ["skin", "eyes", "mouth", "hair"]
    hair, skin = assets.parts[3], assets.parts[0]
    assert hair.positions.shape[0] == len(sample.views)
    assert hair.positions[..., 1].max() > skin.positions[..., 1].max() + 0.003  # volume above the crown
    albedo = assets.materials["head"].albedo
    assert albedo.shape == (64, 64, 3) and 0 < albedo.min() and albedo.max() < 1


def test_vertex_normals_outward_and_subset_exact():
    """Normals of a closed mesh point outward; asking for a subset of vertices (the hair shell's)
    gives exactly the full computation's rows there."""
    from gasp.config import HeadConfig
    from gasp.model.head import build_head_model
    from synth.hair import shell, vertex_normals

    model = build_head_model(HeadConfig(mesh_detail=0))
    faces = model.faces.numpy()
    verts = model.verts(**model.zeros(2)).numpy()
    verts[1] = verts[1] * 1.1 + 0.01  # a second pose
    full = vertex_normals(verts, faces)
    assert full.shape == verts.shape and np.allclose(np.linalg.norm(full, axis=-1), 1, atol=1e-5)
    top = np.argmax(verts[0, :, 1])
    assert full[0, top, 1] > 0.9  # the crown faces up
    subset = np.array([top, 5, 17])
    assert np.allclose(vertex_normals(verts, faces, subset), full[:, subset], atol=1e-6)
    offset = np.full(verts.shape[1], 0.002)
    assert np.allclose(shell(verts, faces, offset, subset), verts[:, subset] + 0.002 * full[:, subset], atol=1e-6)


def test_hair_shell_meets_the_skin_at_its_edge():
    """The shell has volume inside but its offset falls to the skin-hugging minimum on every boundary
    vertex (a full-thickness edge where coverage is cut showed as a dark gap at the temples)."""
    from gasp.config import HeadConfig
    from gasp.model.head import build_head_model
    from synth import hair
    from synth.albedo import measure_anatomy
    from synth.assets import neutral_vertices

    model = build_head_model(HeadConfig())
    faces = model.faces.numpy()
    verts = neutral_vertices(model, np.zeros(model.n_shape))
    anatomy = measure_anatomy(model, verts)
    face_region = np.asarray(model.regions)[model.face_regions.numpy()]
    style = {"bald": False, "noise_seed": 3, "hairline": 0.0, "fringe": 0.0, "length": 0.3, "temples": 0.3,
             "volume": 0.02, "clump": 0.5}
    line = hair.hairline(verts, hair.vertex_regions(faces, face_region, len(verts)), anatomy, style)
    keep = hair.shell_faces(faces, line.cover())
    offset = hair.thickness(verts, line.cover(ramp=0.45), style, hair.edge_taper(verts, faces, keep))
    sub = faces[keep]
    edges, uses = np.unique(np.sort(np.concatenate([sub[:, :2], sub[:, 1:], sub[:, ::2]]), 1), axis=0,
                            return_counts=True)
    boundary = np.unique(edges[uses == 1])
    assert len(boundary) > 50 and offset.max() > 0.01
    assert offset[boundary].max() < 0.0007


def test_texel_layout_cache_is_used_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    from gasp.config import HeadConfig
    from gasp.model.head import build_head_model
    from synth import assets

    monkeypatch.setattr(assets, "CACHE_DIR", tmp_path)
    model = build_head_model(HeadConfig(mesh_detail=0))
    fresh = assets.texel_layout(model, 32)
    (cached,) = tmp_path.glob("texels-32-*.npz")
    inode = cached.stat().st_ino
    again = assets.texel_layout(model, 32)
    assert all(np.array_equal(fresh[k], again[k]) for k in fresh)
    assert cached.stat().st_ino == inode  # read, not rewritten
    cached.write_bytes(cached.read_bytes()[:100])  # damaged on disk (atomic writes rule out a half-written one)
    rebuilt = assets.texel_layout(model, 32)
    assert all(np.array_equal(fresh[k], rebuilt[k]) for k in fresh)
    assert np.load(cached)["fill"].shape == (32, 32)


@pytest.fixture(scope="module")
def mean_face():
    """The default head at the mean identity: model, neutral vertices, anatomy and its 256-texel surface."""
    from gasp.config import HeadConfig
    from gasp.model.head import build_head_model
    from synth.albedo import measure_anatomy
    from synth.assets import neutral_vertices, texel_surface

    model = build_head_model(HeadConfig())
    verts = neutral_vertices(model, np.zeros(model.n_shape))
    return model, measure_anatomy(model, verts), texel_surface(model, verts, 256)


def test_brows_lips_and_eyes_are_solid_smooth_outlines(mean_face):
    """Brows, lips and eye openings are outlines in the template's frame, not falloffs around region
    vertices (2.6 mm apart: the lips rendered as a grid of dots, the brows as blocks following the
    mesh's rows, the whites of the eyes as spiky stars)."""
    from synth.albedo import brow_weight, eye_opening_weight, lip_weight

    model, an, tex = mean_face
    T, regions = tex.template_points, tex.regions
    lips = lip_weight(T, an)
    assert (lips[regions == "lips"] > 0.9).mean() > 0.6  # solid, not dots at the vertices
    assert lips[np.linalg.norm(T - an.mouth_corners.mean(0), axis=1) > 0.03].max() == 0
    app = {"brow_thickness": 1.0, "brow_arch": 0.0, "brow_tail": 0.0, "brow_length": 1.0}
    brows = brow_weight(T, an, app, np.random.default_rng(0))
    landmarks = an.brow_lines.reshape(-1, 3)
    near = lambda p, r: np.linalg.norm(T - p, axis=1) < r  # noqa: E731
    # texels seen from the front within r of p in x and y
    front = lambda p, r, z: (np.linalg.norm(T[:, :2] - p[:2], axis=1) < r) & (T[:, 2] > z)  # noqa: E731
    assert all(brows[near(p, 0.0015)].min() > 0.6 for p in landmarks[[0, 1, 3, 4]])  # heads and middles
    assert all(brows[front(p + [0, 0.012, 0], 0.002, 0.05)].max() == 0 for p in landmarks)
    # the lower edge of the left brow, found on the template's surface every 0.5 mm across and 0.1 mm
    # up, is a smooth curve (falloffs around vertices 2.6 mm apart scalloped it by about a millimetre)
    from gasp.model.head.shape import raycast

    x, y = np.meshgrid(np.arange(0.018, 0.046, 0.0005), np.arange(0.03, 0.06, 0.0001), indexing="ij")
    dirs = np.stack([x, y, np.full_like(x, 0.09)], -1).reshape(-1, 3)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    grid = (raycast(dirs)[:, None] * dirs).reshape(*x.shape, 3)
    covered = brow_weight(grid.reshape(-1, 3), an, app, np.random.default_rng(0)).reshape(x.shape) > 0.5
    edge = np.where(covered.any(1), grid[..., 1][np.arange(len(x)), covered.argmax(1)], np.nan)
    assert not np.isnan(edge).any() and np.abs(np.diff(edge, 2)).max() < 0.0003
    eyes = eye_opening_weight(T, an)
    for middle in an.eye_corners[:, :2].mean(1):  # between the corners, both sides
        assert eyes[front(middle, 0.0015, 0.07)].min() > 0.99
        assert eyes[front(middle + [0, 0.008, 0], 0.0015, 0.07)].max() == 0
    mirrored = eye_opening_weight(T * [-1, 1, 1], an)
    assert np.abs(mirrored - eyes)[regions == "eyes"].mean() < 0.05  # the same almond on both sides


def test_brows_read_darker_than_skin(mean_face):
    from synth.albedo import paint_head

    model, an, tex = mean_face
    app = samplers.sample_appearance(np.random.default_rng(0))
    app.update(brow_density=1.0, brow_thickness=1.0, brow_darkness=0.9, freckles=0.0, brow_arch=0.0,
               brow_tail=0.0, brow_length=1.0)
    rgb, rough = paint_head(tex.points, tex.template_points, tex.regions, an, app, np.zeros(len(tex.points)),
                            {"rgb": [0.02, 0.015, 0.01]})
    on_line = np.linalg.norm(tex.template_points[:, None] - an.brow_lines[:, 1][None], axis=-1).min(1) < 0.003
    skin = np.asarray(app["skin_rgb"]).mean()
    assert on_line.sum() > 10 and (rgb[on_line].mean(1) < 0.6 * skin).mean() > 0.9
    assert rough[on_line].mean() > 0.7  # hair is matte


def test_dark_skin_gets_dark_hair():
    """Blond and light-brown hair occur almost only with light skin."""
    subjects = [samplers.sample_subject(SynthConfig(), 60, 12, "prior", i) for i in range(300)]
    dark = [s.hair["melanin"] for s in subjects if s.appearance["skin_tone"] >= 0.75]
    light = [s.hair["melanin"] for s in subjects if s.appearance["skin_tone"] <= 0.3]
    assert len(dark) > 30 and min(dark) >= 0.7 and min(light) < 0.2
