"""Real Blender renders of tiny subjects (subprocesses: this process never imports bpy) and a real
Snakemake run of the ci preset's synth targets."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from gasp import data
from gasp.config import load_config

pytestmark = pytest.mark.slow
CI = ["--preset", "ci"]


def _render(out, domain="prior", subject="p0000", threads=2, extra=()):
    cmd = [sys.executable, "-m", "gasp", "synth", "render", "--domain", domain, "--subject", subject,
           "--out", str(out), "--threads", str(threads), *CI, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def prior_subject(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "prior" / "p0000"
    _render(out)
    return out


def _visible_vertices(verts, faces, K, w2c, width, height):
    """Vertices facing the camera and not hidden (a vertex z-buffer over the mesh's own vertices)."""
    from gasp.camera import project
    from synth.hair import vertex_normals

    uv, depth = project(verts, K, w2c)
    centre = np.linalg.inv(w2c)[:3, 3]
    normals = vertex_normals(verts[None], faces)[0]
    facing = ((centre - verts) * normals).sum(1) > 0
    px = np.floor(uv).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
    zbuf = np.full((height, width), np.inf)
    np.minimum.at(zbuf, (px[inside, 1], px[inside, 0]), depth[inside])
    front = np.zeros(len(verts), bool)
    front[inside] = depth[inside] <= zbuf[px[inside, 1], px[inside, 0]] + 0.004
    return facing & front & inside, px


def test_mesh_projects_into_rendered_alpha(prior_subject):
    """Pins the Blender -> OpenCV camera conversion: visible head vertices, projected with the saved
    K and world-to-camera and the saved parameters, land inside the rendered alpha (>= 98%)."""
    from gasp.model.head import build_head_model

    s = data.load_subject(prior_subject)
    model = build_head_model(load_config(preset="ci").head)
    t = lambda a: torch.as_tensor(a)  # noqa: E731
    with torch.no_grad():
        verts = model.verts(t(np.tile(s.shape, (len(s), 1))), t(s.expr), t(s.jaw), t(s.neck), t(s.global_rt)).numpy()
    faces = model.faces.numpy()
    hits, total = 0, 0
    for v in range(len(s)):
        vis, px = _visible_vertices(verts[v].astype(np.float64), faces, s.K[v].astype(np.float64),
                                    s.w2c[v].astype(np.float64), s.width, s.height)
        alpha = s.images[v, px[vis, 1], px[vis, 0], 3]
        hits += int((alpha > 0).sum())
        total += int(vis.sum())
    frac = hits / total
    print(f"alpha projection: {hits}/{total} = {frac:.4f}")
    assert total > 1000 and frac >= 0.98


def test_rendered_subject_is_valid_and_complete(prior_subject):
    r = subprocess.run([sys.executable, "-m", "gasp", "synth", "validate", str(prior_subject)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = data.load_subject(prior_subject, masks=True)
    cfg = load_config(preset="ci").synth
    assert len(s) == cfg.prior_views and s.images.shape[1:] == (cfg.resolution, cfg.resolution, 4)
    labels = set(np.unique(s.masks))
    assert {0, data.MASK_LABELS.index("skin")} <= labels
    assert ((s.masks > 0) == (s.images[..., 3] > 0.5)).mean() > 0.97  # masks agree with alpha
    meta = s.meta
    assert meta["seed"] == __import__("synth.samplers", fromlist=["x"]).subject_seed(0, "prior", 0)
    # a finished subject is left alone (resumable)
    assert _render(prior_subject)["skipped"] is True


def test_same_seed_renders_identical_images(prior_subject, tmp_path):
    """Determinism across processes and thread counts (byte-identical PNGs expected; the max pixel
    difference is printed so a non-bit-exact Cycles would show how far off it is)."""
    again = tmp_path / "p0000"
    _render(again, threads=1)
    a, b = data.load_subject(prior_subject), data.load_subject(again)
    diff = np.abs(a.images - b.images).max() * 255
    same = all((prior_subject / "images" / f).read_bytes() == (again / "images" / f).read_bytes()
               for f in os.listdir(prior_subject / "images"))
    print(f"re-render with 1 vs 2 threads: byte-identical={same}, max diff {diff:.1f}/255")
    assert diff <= 1.0


def test_snakemake_renders_ci_dataset(repo_root, tmp_path):
    """Real Snakemake: the ci preset's prior and eval manifests in a copy of the workflow."""
    work = tmp_path / "wf"
    work.mkdir()
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(repo_root / name, work / name)
    shutil.copytree(repo_root / "workflow", work / "workflow")
    for code in ("gasp", "synth"):
        os.symlink(repo_root / code, work / code)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "data/synth/prior/manifest.json",
           "data/synth/eval/manifest.json", "--configfile", "workflow/presets/ci.yaml"]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    assert data.validate(work / "data" / "synth") == []
    cfg = load_config(preset="ci").synth
    assert data.list_subjects(work / "data/synth/prior") == [f"p{i:04d}" for i in range(cfg.prior_subjects)]
    e = data.load_subject(work / "data/synth/eval/e0000")
    assert set(e.groups) == {"video", "single", "ring", "rig"}
    assert len(e.select("rig", "test")) == cfg.rig_test_cameras
