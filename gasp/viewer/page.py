"""The viewer page as a folder: static/ (index.html, viewer.js, vendor/) plus the bundle's data files."""
from __future__ import annotations

from pathlib import Path

from gasp.io import atomic_write_bytes
from gasp.viewer.bundle import Bundle

STATIC = Path(__file__).parent / "static"


def static_files() -> list[Path]:
    """Every file of the page that does not depend on the avatar, relative to STATIC."""
    return sorted(p.relative_to(STATIC) for p in STATIC.rglob("*") if p.is_file())


def write_page(bundle: Bundle, out_dir: str | Path) -> dict[str, int]:
    """Write the page into `out_dir` (created; our files replaced atomically) -> {relative path: bytes}."""
    out = Path(out_dir)
    sizes = {}
    for rel in static_files():
        data = (STATIC / rel).read_bytes()
        atomic_write_bytes(out / rel, data)
        sizes[rel.as_posix()] = len(data)
    for name, data in bundle.files().items():
        atomic_write_bytes(out / name, data)
        sizes[name] = len(data)
    return sizes


BUILTIN_FPS = 16.0


def export_page(avatar, out_dir: str | Path, motion=None, fps: float | None = None, motion_name: str | None = None,
                background=(1.0, 1.0, 1.0), camera: dict | None = None) -> tuple[Bundle, dict[str, int]]:
    """The whole page for an avatar in `out_dir` (open out_dir/index.html through any web server);
    `motion` None plays the built-in expression loop. Returns the bundle and {file: bytes}."""
    from gasp.viewer.bundle import build_bundle, builtin_motion

    if motion is None:
        motion, motion_name, fps = builtin_motion(avatar.head.n_expr), "built-in expressions", fps or BUILTIN_FPS
    bundle = build_bundle(avatar, motion, fps or 24.0, motion_name or "motion", background, camera)
    return bundle, write_page(bundle, out_dir)
