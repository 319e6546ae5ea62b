"""The `gasp` console script and the workflow skeleton."""
import os
import shutil
import subprocess
import sys


def test_gasp_help_lists_command_groups():
    from gasp.cli import GROUPS

    exe = shutil.which("gasp") or None
    cmd = [exe] if exe else [sys.executable, "-m", "gasp"]
    r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, check=True)
    for group in GROUPS:
        assert group in r.stdout


def test_unknown_command_fails():
    r = subprocess.run([sys.executable, "-m", "gasp", "no-such-command"], capture_output=True, text=True)
    assert r.returncode != 0


def test_torch_extensions_dir_inside_project(repo_root):
    import gasp  # noqa: F401  (sets the default on import)

    assert os.environ["TORCH_EXTENSIONS_DIR"].startswith(str(repo_root))


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
