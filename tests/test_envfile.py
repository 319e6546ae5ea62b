"""requirements.txt is the single source; environment.yml is generated from it."""
from gasp.envfile import ENVIRONMENT, REQUIREMENTS, render_environment, requirement_lines


def test_environment_yml_in_sync_with_requirements():
    assert ENVIRONMENT.read_text() == render_environment(REQUIREMENTS.read_text()), \
        "environment.yml drifted from requirements.txt: run `make env-file`"


def test_every_requirement_is_pinned_exactly():
    reqs = requirement_lines(REQUIREMENTS.read_text())
    assert reqs
    unpinned = [r for r in reqs if "==" not in r]
    assert not unpinned, f"unpinned requirements: {unpinned}"


def test_render_detects_a_drift():
    base = "torch==2.14.1\n"
    assert render_environment(base) != render_environment("torch==2.14.0\n")
    assert "python=3.11" in render_environment(base)


def test_design_pins_hold():
    pins = dict(r.split("==") for r in requirement_lines(REQUIREMENTS.read_text()))
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["gsplat"] == "1.5.3" and pins["bpy"] == "4.2.0" and pins["blenderproc"] == "2.8.0"
    assert int(pins["numpy"].split(".")[0]) < 2 and int(pins["pandas"].split(".")[0]) < 3
    assert pins["snakemake"].startswith("9.") and pins["dvc"].startswith("3.")
    assert pins["snakemake-executor-plugin-slurm"] == "2.6.1"
    # one OpenCV distribution only (two overwrite each other's files)
    assert sum(k.startswith("opencv") for k in pins) == 1
