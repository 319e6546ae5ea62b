"""GASP: Gaussian Avatars with Synthetic Priors -- the library (model, rendering, training, fitting,
metrics, reports). Never imports `synth` (Blender lives there only)."""
import os
from pathlib import Path

__version__ = "0.1.0"

# A failed gsplat JIT build on a CPU-only machine must never write outside the project.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(__file__).resolve().parent.parent / ".torch_extensions"))
