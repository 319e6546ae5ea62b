"""benchmarks/gpu_check.py --smoke: every part of the GPU check runs on the CPU at tiny sizes and
writes a complete JSON report, so that the script a GPU session runs cannot rot."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
PARTS = ("setup", "parity", "render_speed", "data", "train_prior", "fit", "train_prior_ddp")


def run_check(out, *args, timeout=300):
    r = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out), *args], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("gpu_check") / "check.json"


@pytest.fixture(scope="module")
def report(out):
    return run_check(out, "--budget-s", "400")


def test_every_part_ran(report):
    assert report["finished"] and report["mode"].startswith("smoke")
    assert {k: v["status"] for k, v in report["parts"].items()} == {k: "ok" for k in PARTS}
    for name in PARTS:
        part = report["parts"][name]
        assert part["seconds"] >= 0 and part["peak_rss_mb"] > 0, name
    m = report["machine"]
    assert m["device"] == "cpu" and m["cpu_count"] >= 1 and m["torch"]
    assert report["parts"]["setup"]["gsplat"] and report["code"]["gasp_sha256"]


def test_images_beside_the_report(report, out):
    import cv2

    parity = cv2.imread(str(out.with_name("check_parity.png")))
    frame = cv2.imread(str(out.with_name("check_frame.png")))
    px = report["parts"]["parity"]["scenes"][-1]["pixels"]
    assert parity.shape == (px, 3 * px, 3) and frame.shape[:2] == (report["parts"]["render_speed"]["pixels"],) * 2
    assert frame.min() < 200  # the avatar shows on the white background


def test_parity_is_against_the_oracle_and_holds(report):
    p = report["parts"]["parity"]
    assert p["cuda_parity"] is False and "oracle" in p["reference"]
    assert len(p["scenes"]) == 2 and p["within_tolerance"]
    for s in p["scenes"]:
        assert s["gaussians"] > 50 and s["covered"] > 0.05
        assert set(s["grad_rel_l2"]) == {"means", "quats", "scales", "opacities", "colors"}
        assert max(s["grad_rel_l2"].values()) <= p["tolerance"]["grad_rel_l2"]
        assert s["image_max_abs"] <= p["tolerance"]["image_max_abs"]


def test_speed_training_and_fit_numbers_are_sane(report):
    parts = report["parts"]
    r = parts["render_speed"]
    assert r["fps_posed"] > 0 and r["fps_render_only"] > 0 and r["covered"] > 0.05
    t = parts["train_prior"]
    assert t["steps_per_s"] > 0 and math.isfinite(t["loss_last"]) and t["steps"] == 3
    d = parts["train_prior_ddp"]
    assert d["processes"] == 2 and d["backend"] == "gloo" and d["steps_per_s"] > 0
    f = parts["fit"]
    assert [s["name"] for s in f["stages"]] == ["invert", "decoder", "refine"]
    assert [s["steps"] for s in f["stages"]] == report["config"]["fit_steps"]
    assert f["prior"] == "trained in part train_prior"
    assert 0 < f["avatar_mb_float16"] < f["avatar_mb_float32"]
    assert f["gaussians"] == parts["data"]["gaussians"] == t["gaussians"]


def test_no_budget_skips_every_part(tmp_path):
    rep = run_check(tmp_path / "check.json", "--budget-s", "0", timeout=120)
    status = {k: v["status"] for k, v in rep["parts"].items()}
    assert status.pop("setup") == "ok"
    assert set(status) == set(PARTS) - {"setup"} and all(s.startswith("skipped") for s in status.values()), status
