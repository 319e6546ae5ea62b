"""Prior training on the ci preset: loss drop, outputs, resume after a kill, DDP (2 CPU processes), inspect."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gasp.config import load_config
from gasp.data import subject_id
from gasp.model.prior import GaspPrior
from gasp.steps.train_prior.batches import BatchOrder
from gasp.steps.train_prior.data import held_out_views
from gasp.steps.train_prior.log import LOSS_FIELDS, read_log_csv

LOSS_COLUMNS = [c for c in LOSS_FIELDS if c != "psnr"]
# Real Blender renders and several training processes: end to end on the ci preset.
pytestmark = pytest.mark.slow


def gasp_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "gasp", *args]


def run_env() -> dict:
    # one torch thread per process: the DDP test runs two, CI has two cores
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def train_cmd(data, out, *extra) -> list[str]:
    return gasp_cmd("train-prior", "--data", str(data), "--variant", "all", "--out", str(out), "--preset", "ci",
                    "--threads", "1", "--no-progress", *extra)


@pytest.fixture(scope="session")
def prior_data_ci(tmp_path_factory):
    """The ci preset's prior set, rendered by the real synth renderer (Blender): root/prior/..."""
    root = tmp_path_factory.mktemp("synth")
    cfg = load_config(preset="ci")
    procs = [subprocess.Popen(gasp_cmd("synth", "render", "--preset", "ci", "--domain", "prior", "--subject", s,
                                       "--out", str(root / "prior" / s), "--threads", "1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for s in (subject_id("prior", i) for i in range(cfg.synth.prior_subjects))]
    for p in procs:  # Blender's start-up is mostly single-threaded: render the subjects side by side
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    r = subprocess.run(gasp_cmd("synth", "manifest", "--preset", "ci", "--domain", "prior", "--root", str(root)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return root / "prior"


@pytest.fixture(scope="module")
def trained(prior_data_ci, tmp_path_factory):
    """One uninterrupted ci-preset run: (output folder, its log rows)."""
    out = tmp_path_factory.mktemp("prior_all")
    r = subprocess.run(train_cmd(prior_data_ci, out), capture_output=True, text=True, env=run_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    return out, read_log_csv(out / "train_log.csv")


def test_batch_order_is_a_pure_function_of_the_step():
    order = BatchOrder(10, 4, seed=0)
    seq = torch.cat([order.indices(s) for s in range(5)])
    assert sorted(seq[:10].tolist()) == list(range(10))  # the first epoch visits every pair once
    assert sorted(seq[10:20].tolist()) == list(range(10))
    assert torch.equal(BatchOrder(10, 4, seed=0).indices(3), order.indices(3))
    assert not torch.equal(BatchOrder(10, 4, seed=1).indices(0), order.indices(0))


def test_held_out_views_spread_over_the_ring():
    assert held_out_views(24, 2) == [6, 18]
    assert held_out_views(8, 0) == []
    assert len(held_out_views(8, 3)) == 3


def test_ci_training_halves_the_photometric_loss_and_writes_its_outputs(trained):
    out, rows = trained
    cfg = load_config(preset="ci")
    assert rows[0]["step"] == 1 and rows[-1]["step"] == cfg.prior.steps
    assert rows[-1]["photo"] <= 0.5 * rows[0]["photo"], (rows[0]["photo"], rows[-1]["photo"])
    for name in ("prior.pt", "train_log.csv", "loss_curve.png", "val_grid.png", "val_metrics.json"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoint.pt").exists()
    model, meta = GaspPrior.load(out / "prior.pt")
    assert meta["final"] and meta["steps_done"] == cfg.prior.steps
    assert meta["config"]["prior"] == json.loads(json.dumps(cfg.to_dict()["prior"]))
    assert len(meta["manifest_sha256"]) == 64 and meta["code_version"]["gasp_sha256"]
    assert "lpips" in meta
    assert model.n_subjects == cfg.synth.prior_subjects
    val = json.loads((out / "val_metrics.json").read_text())
    assert val["psnr_heldout"] > 10


def test_kill_and_resume_reproduces_the_uninterrupted_run(prior_data_ci, trained, tmp_path):
    _, ref = trained
    out = tmp_path / "resumed"
    proc = subprocess.Popen(train_cmd(prior_data_ci, out), env=run_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint.pt").exists(), "no checkpoint before the run ended"
    assert not (out / "prior.pt").exists()
    r = subprocess.run(train_cmd(prior_data_ci, out), capture_output=True, text=True, env=run_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    rows = read_log_csv(out / "train_log.csv")
    assert [x["step"] for x in rows] == [x["step"] for x in ref]
    for a, b in zip(rows, ref):
        for c in LOSS_COLUMNS:
            assert a[c] == pytest.approx(b[c], rel=1e-4, abs=1e-7), (a["step"], c)


def test_ddp_two_cpu_processes_match_one(prior_data_ci, tmp_path):
    """Same global batch, 1 vs 2 gloo processes, over the first steps (later, float reordering in the
    gradient reduction is amplified by the rasterizer's thresholds and Adam, as between any two machines)."""
    short = tmp_path / "short.yaml"
    short.write_text("prior:\n  steps: 8\n  log_every: 1\n")
    runs = {n: subprocess.Popen(train_cmd(prior_data_ci, tmp_path / f"n{n}", "--nproc", str(n), "--configfile",
                                          str(short)), env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for n in (1, 2)}
    for p in runs.values():
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    one, two = (read_log_csv(tmp_path / f"n{n}" / "train_log.csv") for n in (1, 2))
    assert [x["step"] for x in one] == [x["step"] for x in two] == list(range(1, 9))
    for a, b in zip(two, one):
        for c in LOSS_COLUMNS:
            assert a[c] == pytest.approx(b[c], rel=1e-3, abs=1e-6), (a["step"], c)
    m2, meta = GaspPrior.load(tmp_path / "n2" / "prior.pt")
    m1, _ = GaspPrior.load(tmp_path / "n1" / "prior.pt")
    assert meta["world_size"] == 2
    # Adam turns sign noise of near-zero gradients into full-size steps on a few entries: compare on average
    for (k, x), y in zip(m2.state_dict().items(), m1.state_dict().values()):
        assert (x.double() - y.double()).abs().mean() < 2e-3, k
    psnr = [json.loads((tmp_path / f"n{n}" / "val_metrics.json").read_text())["psnr_heldout"] for n in (1, 2)]
    assert psnr[0] == pytest.approx(psnr[1], abs=0.05)


def test_inspect_writes_figures_and_probe(trained, tmp_path):
    out, _ = trained
    r = subprocess.run(gasp_cmd("prior", "inspect", str(out / "prior.pt"), "--out", str(tmp_path)),
                       capture_output=True, text=True, env=run_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    probe = json.loads((tmp_path / "probe.json").read_text())
    for key in ("accuracy", "majority_baseline", "untrained_features_accuracy", "margin_points", "region_counts"):
        assert key in probe
    assert 0 <= probe["majority_baseline"] <= probe["accuracy"] <= 1
    assert (tmp_path / "features_pca_uv.png").stat().st_size > 0
    assert (tmp_path / "features_pca_head.png").stat().st_size > 0


def test_inspect_of_a_truncated_checkpoint_names_the_file(trained, tmp_path):
    out, _ = trained
    bad = tmp_path / "prior.pt"
    bad.write_bytes((out / "prior.pt").read_bytes()[:1000])
    r = subprocess.run(gasp_cmd("prior", "inspect", str(bad), "--out", str(tmp_path / "x")), capture_output=True,
                       text=True, env=run_env(), timeout=120)
    assert r.returncode != 0 and str(bad) in r.stderr and "Traceback" not in r.stderr
