"""What a resumable run must match (`run_key`), the RNG state it restores, and the code it ran."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import torch

import gasp
from gasp.config import Config


def code_version() -> dict:
    """The git commit (+dirty) when in a checkout, and a hash of the gasp package sources."""
    root = Path(gasp.__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    try:
        git = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=root,
                             capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"git": git, "gasp_sha256": h.hexdigest()}


def run_key(cfg: Config, variant: str, manifest_sha256: str) -> str:
    """What a checkpoint must match to be resumed: the config sections training reads, the data, the variant."""
    c = cfg.to_dict()
    keyed = {k: c[k] for k in ("synth", "head", "avatar", "prior", "eval", "metrics")}
    blob = json.dumps({"cfg": keyed, "variant": variant, "data": manifest_sha256}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
