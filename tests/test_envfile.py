"""requirements.txt is the single source; environment.yml is generated from it. The venv holds one cv2."""
import subprocess
import sys

from gasp.envfile import ENVIRONMENT, REQUIREMENTS, REQUIREMENTS_NODEPS, render_environment, requirement_lines


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


def test_nodeps_requirements_are_pinned_and_not_repeated():
    nodeps = dict(r.split("==") for r in requirement_lines(REQUIREMENTS_NODEPS.read_text()))
    assert nodeps == {"mediapipe": "0.10.21"}  # the last release whose wheel ships its face models
    pins = dict(r.split("==") for r in requirement_lines(REQUIREMENTS.read_text()))
    assert not set(nodeps) & set(pins)


def test_one_opencv_and_all_face_libraries_import_together():
    """mediapipe, insightface and BlenderProc's OpenCV (with OpenEXR) share one cv2 distribution."""
    from importlib.metadata import distributions

    cv2_dists = sorted({d.metadata["Name"] for d in distributions()
                        if "cv2/__init__.py" in {str(f) for f in (d.files or [])}})
    assert cv2_dists == ["opencv-python"], cv2_dists
    code = ("import mediapipe, insightface, cv2, numpy as np, tempfile, os;"
            "from mediapipe.python.solutions import face_mesh;"
            "os.environ['OPENCV_IO_ENABLE_OPENEXR'] = '1';"
            "p = os.path.join(tempfile.mkdtemp(), 'x.exr');"
            "assert cv2.imwrite(p, np.ones((4, 4, 3), np.float32));"
            "assert cv2.imread(p, cv2.IMREAD_UNCHANGED).dtype == np.float32;"
            "from synth.blender import load_blenderproc; load_blenderproc(); print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
