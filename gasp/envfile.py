"""Generate environment.yml (conda format) from requirements.txt, the single source of pins.

conda's channels are not reachable from the project's machines, so the environment is
python 3.11 from conda plus everything else through its pip section, exactly as pinned.
`python -m gasp.envfile --write` regenerates it; tests/test_envfile.py fails when they drift.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gasp.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
REQUIREMENTS_NODEPS = ROOT / "requirements-nodeps.txt"  # installed after, with --no-deps (Makefile)
ENVIRONMENT = ROOT / "environment.yml"


def requirement_lines(text: str) -> list[str]:
    """The requirement specifiers of a requirements file, comments and blank lines dropped."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def render_environment(requirements_text: str) -> str:
    lines = [
        "# Generated from requirements.txt by `python -m gasp.envfile --write`; do not edit by hand.",
        "# After creating it: pip install --no-deps -r requirements-nodeps.txt (mediapipe, whose declared",
        "# opencv-contrib-python would be a second cv2 beside opencv-python).",
        "name: gasp",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {req}" for req in requirement_lines(requirements_text)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--write", action="store_true", help="write environment.yml (default: check it)")
    args = p.parse_args(argv)
    want = render_environment(REQUIREMENTS.read_text())
    if args.write:
        atomic_write_text(ENVIRONMENT, want)
        print(f"wrote {ENVIRONMENT}")
        return 0
    if not ENVIRONMENT.exists() or ENVIRONMENT.read_text() != want:
        print("environment.yml is out of date with requirements.txt: run `make env-file`", file=sys.stderr)
        return 1
    print("environment.yml matches requirements.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
