"""Import BlenderProc 2.8 on top of pip `bpy` in a plain Python process (README.md, docs/architecture.md).

PyPI blenderproc 2.8.0 refuses to import outside `blenderproc run`, strips site-packages from
sys.path in its __init__, and `bproc.init()` fails on the language preference of pip bpy (no
translations). `load_blenderproc()` works around all three; `init_blenderproc()` is init minus the
language step. A process that imported bpy can segfault at interpreter exit: end render processes
with `finish(code)` (flush, then os._exit).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
import tempfile


def load_blenderproc():
    """Return the `blenderproc` module, imported as if inside Blender's own Python."""
    if "blenderproc" in sys.modules and hasattr(sys.modules["blenderproc"], "init"):
        return sys.modules["blenderproc"]
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    saved_path = list(sys.path)
    # First import the bare package (the run-script flag skips its guard) so SetupUtility can be
    # imported and patched with site-packages still on sys.path.
    os.environ["OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"] = "1"
    import blenderproc
    from blenderproc.python.utility import SetupUtility as setup_mod

    def _setup(*_args, **_kwargs):  # no pip installs, no argv surgery: the temp dir, and sys.path back
        sys.path[:] = saved_path + [p for p in sys.path if p not in saved_path]
        setup_mod.SetupUtility.setup_utility_paths(tempfile.mkdtemp(prefix="bproc_"))
        return sys.argv

    setup_mod.SetupUtility.setup = staticmethod(_setup)
    del os.environ["OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"]
    os.environ["INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT"] = "1"
    _lazy_api_modules()
    importlib.reload(blenderproc)
    sys.path[:] = saved_path + [p for p in sys.path if p not in saved_path]
    return blenderproc


def _lazy_api_modules() -> None:
    """Register every `blenderproc.api.*` module as lazy (executed on first attribute use).

    blenderproc's __init__ imports its whole API; the loaders, writers and object tools pull in
    scikit-learn and pandas, about 1.8 s of every render process (a subject renders in 2-3 s at 128 px).
    The scene uses only camera, renderer, material and types.
    """
    import blenderproc.api as api

    for info in pkgutil.iter_modules(api.__path__):
        name = f"{api.__name__}.{info.name}"
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        setattr(api, info.name, module)


def init_blenderproc(threads: int = 0, gpu: bool = True):
    """`bproc.init()` without the language step; Cycles on the GPU when one is usable, else CPU.

    threads: CPU render threads (0 = all cores).
    """
    bproc = load_blenderproc()
    import bpy
    from blenderproc.python.utility.GlobalStorage import GlobalStorage
    from blenderproc.python.utility.Initializer import _Initializer, clean_up
    from blenderproc.python.renderer import RendererUtility

    clean_up(clean_up_camera=True)
    bpy.context.scene.render.engine = "CYCLES"
    RendererUtility.set_render_devices(use_only_cpu=not gpu)
    _Initializer.set_default_parameters()
    GlobalStorage.add("bproc_init_complete", True)
    bpy.context.scene.render.threads_mode = "FIXED" if threads > 0 else "AUTO"
    if threads > 0:
        bpy.context.scene.render.threads = threads
    return bproc


def finish(code: int = 0):
    """Flush, remove Blender's session temp folder, and leave without running interpreter teardown
    (bpy segfaults there; teardown is also what would have removed /tmp/blender_*)."""
    if "bpy" in sys.modules:
        import shutil

        tmp = sys.modules["bpy"].app.tempdir
        if tmp and os.path.basename(os.path.normpath(tmp)).startswith("blender_"):
            shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
