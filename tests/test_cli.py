"""The `gasp` console script and the workflow skeleton."""
import os
import re
import shutil
import subprocess
import sys


def _registered_commands(group: str) -> list[str]:
    """The command names a group module registers, on a fresh parser."""
    import argparse
    import importlib

    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"gasp.cli.{group}").register(sub)
    return list(sub.choices)


def test_gasp_help_lists_every_command_of_every_group(repo_root):
    from gasp.cli import GROUPS

    modules = {p.stem for p in (repo_root / "gasp" / "cli").glob("*.py")
               if re.search(r"^def register\(", p.read_text(), re.M)}
    assert modules == set(GROUPS), f"command modules not in gasp.cli.GROUPS: {sorted(modules - set(GROUPS))}"
    exe = shutil.which("gasp") or None
    cmd = [exe] if exe else [sys.executable, "-m", "gasp"]
    r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, check=True)
    listed = re.findall(r"^    (\S+)", r.stdout, re.M)  # the command column of the help
    for group in GROUPS:
        for command in _registered_commands(group):
            assert command in listed, f"`gasp --help` does not list {command!r} (group {group})"


def test_unknown_command_fails():
    r = subprocess.run([sys.executable, "-m", "gasp", "no-such-command"], capture_output=True, text=True)
    assert r.returncode != 0


def test_torch_extensions_dir_inside_project(repo_root, tmp_path):
    """`import gasp` points TORCH_EXTENSIONS_DIR into the project, unless the user set it (a fresh
    process: conftest.py sets the variable in this one)."""
    env = {k: v for k, v in os.environ.items() if k != "TORCH_EXTENSIONS_DIR"}
    show = [sys.executable, "-c", "import os, gasp; print(os.environ['TORCH_EXTENSIONS_DIR'])"]
    r = subprocess.run(show, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == str(repo_root / ".torch_extensions")
    r = subprocess.run(show, cwd=tmp_path, env={**env, "TORCH_EXTENSIONS_DIR": str(tmp_path)}, capture_output=True,
                       text=True, check=True)
    assert r.stdout.strip() == str(tmp_path)


def test_snakemake_dry_run(repo_root):
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=repo_root,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_snakemake_rejects_bad_config(repo_root, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synth:\n  prior_subjcts: 3\n")
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(bad)],
                       cwd=repo_root, capture_output=True, text=True)
    assert r.returncode != 0
    assert "prior_subjcts" in r.stdout + r.stderr
