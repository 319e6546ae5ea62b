"""gasp/data.py: the dataset format round-trips, and validation names the bad file and field."""
import json

import numpy as np
import pytest

from gasp import data


def _write_subject(d, domain="eval", n=4, size=(12, 10)):
    w, h = size
    K = np.array([[20.0, 0, w / 2], [0, 20.0, h / 2], [0, 0, 1]])
    views = []
    for i in range(n):
        w2c = np.eye(4)
        w2c[2, 3] = 1.0 + i
        group = "prior" if domain == "prior" else ("video" if i < 2 else "ring")
        views.append(data.View(data.view_name(i), K, w2c, group, "train" if i % 2 else "test"))
        rgba = np.full((h, w, 4), 10 * i, np.uint8)
        rgba[..., 3] = 255
        data.write_view(d, i, rgba, np.full((h, w), 1, np.uint8))
    data.write_cameras(d, w, h, views)
    data.write_params(d, np.zeros(5), np.ones((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 6)))
    data.write_subject_meta(d, {"subject": d.name, "seed": 7, "domain": domain, "appearance": {}, "hair": {}})
    data.mark_done(d)


def test_round_trip_and_select(tmp_path):
    d = tmp_path / "eval" / "e0000"
    _write_subject(d)
    s = data.load_subject(d, masks=True)
    assert s.images.shape == (4, 10, 12, 4) and s.images.dtype == np.float32
    assert s.masks.shape == (4, 10, 12) and s.expr.shape == (4, 3) and s.seed == 7
    assert s.images[2, 0, 0, 0] == pytest.approx(20 / 255)
    assert s.w2c[3, 2, 3] == 4.0
    v = s.select("video", "train")
    assert v.view_ids == ["001"] and v.images.shape[0] == 1 and v.expr.shape == (1, 3)
    t = s.take([3, 0])  # any views, in the order given
    assert t.view_ids == ["003", "000"] and t.w2c[0, 2, 3] == 4.0 and t.masks.shape[0] == 2
    assert list(t.groups) == ["ring", "video"] and t.images[1, 0, 0, 0] == 0.0
    assert data.validate(d) == []
    data.write_manifest(tmp_path / "eval", "eval", ["e0000"], {"seed": 0})
    assert data.validate(tmp_path) == [] and data.list_subjects(tmp_path / "eval") == ["e0000"]


@pytest.mark.parametrize("breakage, expect", [
    (lambda d: (d / "DONE").unlink(), "DONE: missing"),
    (lambda d: (d / "images" / "002.png").unlink(), "images/002.png: missing"),
    (lambda d: _edit_json(d / "cameras.json", lambda c: c["views"][1].update(group="bogus")), "views[1].group"),
    (lambda d: _edit_json(d / "cameras.json", lambda c: c["views"][3]["w2c"][0].__setitem__(0, 2.0)),
     "views[3].w2c"),
    (lambda d: _edit_json(d / "cameras.json", lambda c: c["views"][0]["K"].pop()), "views[0].K"),
    (lambda d: _edit_json(d / "subject.json", lambda s: s.update(seed="x")), "subject.json: seed"),
    (lambda d: data.write_params(d, np.zeros(5), np.ones((3, 3)), np.zeros((4, 3)), np.zeros((4, 3)),
                                 np.zeros((4, 6))), "params.npz: expr"),
    (lambda d: data.write_view(d, 1, np.zeros((10, 12, 4), np.uint8), np.zeros((10, 12), np.uint8)),
     "images/001.png: alpha"),
    (lambda d: data.write_view(d, 1, np.full((10, 12, 4), 255, np.uint8), np.full((10, 12), 9, np.uint8)),
     "masks/001.png: labels"),
])
def test_validate_names_file_and_field(tmp_path, breakage, expect):
    d = tmp_path / "e0000"
    _write_subject(d)
    breakage(d)
    errors = data.validate(d)
    assert any(expect in e for e in errors), errors


def test_manifest_digest_detects_change(tmp_path):
    _write_subject(tmp_path / "prior" / "p0000", domain="prior")
    data.write_manifest(tmp_path / "prior", "prior", ["p0000"], {})
    (tmp_path / "prior" / "p0000" / "subject.json").write_text(
        (tmp_path / "prior" / "p0000" / "subject.json").read_text().replace('"seed": 7', '"seed": 8'))
    assert any("sha256.p0000" in e for e in data.validate(tmp_path / "prior"))
    with pytest.raises(data.DataError, match="DONE"):
        (tmp_path / "prior" / "p0000" / "DONE").unlink()
        data.write_manifest(tmp_path / "prior", "prior", ["p0000"], {})


def _edit_json(path, fn):
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def test_cli_validate_names_bad_file(tmp_path):
    import subprocess
    import sys

    d = tmp_path / "e0000"
    _write_subject(d)
    ok = subprocess.run([sys.executable, "-m", "gasp", "synth", "validate", str(d)], capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    _edit_json(d / "cameras.json", lambda c: c["views"][2].update(split="holdout"))
    bad = subprocess.run([sys.executable, "-m", "gasp", "synth", "validate", str(d)], capture_output=True, text=True)
    assert bad.returncode == 1 and "cameras.json: views[2].split" in bad.stderr
