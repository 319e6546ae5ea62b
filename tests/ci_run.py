"""The tiny (ci preset) pipeline run that the slow tests share: built once per session by
`dvc repro` in a temporary git repository (conftest.py `ci_run`), then copied by each test module
that changes it (`copy_run`: mtimes preserved, so Snakemake still sees the run as up to date)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gasp.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], cwd: Path, timeout: int = 1800) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               PYTHONPATH=str(cwd), GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@example.org",
               GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@example.org", DVC_NO_ANALYTICS="1")
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout + r.stderr


def build(repo: Path) -> Path:
    """The project's files (git's view of the working tree) in `repo`, params.yaml set to the ci
    preset, committed, after one `dvc repro`."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, repo / f)
    (repo / "params.yaml").write_text(yaml.safe_dump(load_config(preset="ci").to_dict(), sort_keys=False))
    for p in (repo / "reports").glob("*.csv"):
        p.unlink()
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "project at ci size"], repo)
    (repo / "repro.log").write_text(run([sys.executable, "-m", "dvc", "repro"], repo))
    return repo


def copy_run(src: Path, dst: Path) -> Path:
    """A copy of a finished run (files, git, DVC cache and Snakemake records) with every mtime kept."""
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    return dst
