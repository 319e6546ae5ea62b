"""A killed render leaves nothing that looks finished, and re-running completes with the same
outputs as an uninterrupted run. (Training: tests/test_train_prior.py kills and resumes training;
corrupt images, missing cameras, NaN parameters and truncated checkpoints: tests/test_data.py,
tests/test_prior.py, tests/test_fit.py.)"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gasp import data

pytestmark = pytest.mark.slow


def render_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "gasp", "synth", "render", "--domain", "prior", "--subject", "p0001",
            "--out", str(out), "--preset", "ci", "--threads", "1"]


def test_killed_render_resumes_to_identical_outputs(tmp_path):
    killed = tmp_path / "killed" / "p0001"
    proc = subprocess.Popen(render_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and not (killed / "images").exists() and proc.poll() is None:
        time.sleep(0.2)  # kill once the subject's scene is being written or rendered
    time.sleep(1.0)
    if proc.poll() is None:
        import os

        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if not data.is_done(killed):  # the usual case: killed mid-way
        assert data.validate_subject(killed), "a half-rendered subject must not validate"
    subprocess.run(render_cmd(killed), check=True, capture_output=True)
    assert data.is_done(killed) and data.validate_subject(killed) == []

    clean = tmp_path / "clean" / "p0001"
    subprocess.run(render_cmd(clean), check=True, capture_output=True)
    names = sorted(p.relative_to(clean) for p in clean.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(killed) for p in killed.rglob("*") if p.is_file())
    for name in names:
        if name.suffix == ".png":
            assert (clean / name).read_bytes() == (killed / name).read_bytes(), name
