"""The tiny (ci preset) pipeline end to end, in a temporary git repository: real Blender renders,
real prior training and fitting, real Snakemake and real DVC.

One session-wide run of `dvc repro` builds everything (conftest.py `ci_run`, shared with
test_rerun.py); these tests, on their own copy of it, check the tables, that
deleting the tables and re-running Snakemake regenerates them (and only them), that a fitting
parameter re-runs only fitting, evaluation and the report, and that `dvc push` / `dvc pull`
through a local remote restores deleted outputs and cache.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from ci_run import copy_run, run
from gasp import targets as T
from gasp.config import load_config

pytestmark = pytest.mark.slow


def snakemake(cwd: Path, *targets: str) -> str:
    return run([sys.executable, "-m", "snakemake", "--cores", "2", *targets], cwd)


def dvc(cwd: Path, *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], cwd)


def tree_digest(root: Path, folders=("data", "models", "results")) -> dict[str, str]:
    out = {}
    for folder in folders:
        for p in sorted((root / folder).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def repo(ci_run, tmp_path_factory) -> Path:
    """A copy of the session's finished ci run (tests/ci_run.py): these tests change it."""
    return copy_run(ci_run, tmp_path_factory.mktemp("pipeline"))


def test_dvc_repro_builds_every_table_with_every_method(repo):
    cfg = load_config(repo / "params.yaml")
    for table in T.table_paths():
        assert (repo / table).exists(), table
    main = pd.read_csv(repo / "reports/main_table.csv")
    for setting in ("monocular", "single"):
        want = {m for m in T.methods_for(cfg, setting) if m in ("gasp", "no_prior", "flashavatar_style")}
        assert set(main[main.setting == setting].method) == want, setting
    ablation = pd.read_csv(repo / "reports/ablation_table.csv")
    assert {"gasp", "no_prior", "no_prior_reg", "no_stage1", "no_stage2", "prior_1subject"} <= set(ablation.method)
    assert (main.PSNR.astype(float) > 5).all()
    speed = pd.read_csv(repo / "reports/speed_table.csv")  # read from the fit.json files the fits wrote
    assert (speed.fit_minutes.astype(float) > 0).all() and (speed.avatar_MB.astype(float) > 0).all()
    assert "Did the paper's findings reproduce?" in (repo / "reports/report.md").read_text()
    assert "Data and pipelines are up to date" in dvc(repo, "status")


def test_deleting_tables_and_rerunning_snakemake_regenerates_only_them(repo):
    before = tree_digest(repo)
    for p in (repo / "reports").glob("*.csv"):
        p.unlink()
    out = snakemake(repo, "reports/main_table.csv")
    for table in T.table_paths():
        assert (repo / table).exists(), table
    assert "rule report" in out or "localrule report" in out
    for rule in ("synth_subject", "train_prior", "fit", "evaluate"):
        assert f"rule {rule}:" not in out, f"{rule} re-ran"
    assert tree_digest(repo) == before


def test_fit_param_change_reruns_only_fit_eval_and_report(repo):
    cfg = load_config(repo / "params.yaml")
    out = dvc(repo, "exp", "run", "-S", f"fit.stage3_steps={cfg.fit.stage3_steps + 1}")
    for stage in ("synth_prior", "synth_eval", "train_prior"):
        assert f"Running stage '{stage}'" not in out, f"{stage} re-ran:\n{out[-3000:]}"
    for stage in ("fit_eval", "report"):
        assert f"Running stage '{stage}'" in out, f"{stage} did not run:\n{out[-3000:]}"
    assert f"fit.stage3_steps" in dvc(repo, "exp", "show", "--csv")


def test_push_delete_pull_restores_outputs(repo, tmp_path):
    remote = tmp_path / "remote"
    dvc(repo, "remote", "add", "-f", "-d", "local", str(remote))
    dvc(repo, "push")
    before = tree_digest(repo)
    assert before
    for folder in ("data", "models", "results", ".dvc/cache"):
        shutil.rmtree(repo / folder, ignore_errors=True)
    dvc(repo, "pull")
    assert tree_digest(repo) == before
