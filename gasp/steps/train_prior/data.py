"""The training subjects of one prior variant as tensors, with `prior.val_views` views of each held out."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gasp import data as gdata
from gasp.config import Config


@dataclasses.dataclass
class PriorData:
    """The training subjects of one variant, on one device. J subjects, V views each.

    images (J,V,H,W,4) uint8 on CPU (converted per batch); K (J,V,3,3); w2c (J,V,4,4);
    shape (J,S); expr (J,V,E); jaw, neck (J,V,3); global_rt (J,V,6);
    train_pairs (P,2) / val_pairs (Q,2) long rows of (subject index, view index).
    """
    dir: Path
    subjects: list[str]
    manifest_sha256: str
    width: int
    height: int
    images: Tensor
    K: Tensor
    w2c: Tensor
    shape: Tensor
    expr: Tensor
    jaw: Tensor
    neck: Tensor
    global_rt: Tensor
    train_pairs: Tensor
    val_pairs: Tensor

    def rgba(self, pairs: Tensor, device) -> Tensor:
        """(B,H,W,4) float 0..1 of the given (subject, view) rows."""
        return self.images[pairs[:, 0], pairs[:, 1]].to(device).float() / 255.0


def variant_subjects(manifest: dict, variant: str, cfg: Config) -> list[str]:
    """The first k subjects of the manifest: all, prior.few_subjects, or 1."""
    k = {"all": len(manifest["subjects"]), "few": cfg.prior.few_subjects, "one": 1}[variant]
    if k > len(manifest["subjects"]):
        raise gdata.DataError(f"variant {variant!r} needs {k} subjects, the manifest lists "
                              f"{len(manifest['subjects'])}")
    return manifest["subjects"][:k]


def variant_steps(cfg: Config, variant: str) -> int:
    return {"all": cfg.prior.steps, "few": cfg.prior.steps_few, "one": cfg.prior.steps_one}[variant]


def load_prior_data(data_dir: str | Path, variant: str, cfg: Config, device) -> PriorData:
    """Read the variant's subjects; `prior.val_views` views of each, spread over 360 degrees, are held out."""
    data_dir = Path(data_dir)
    manifest = gdata.read_manifest(data_dir)
    subjects = variant_subjects(manifest, variant, cfg)
    loaded = [gdata.load_subject(data_dir / s) for s in subjects]
    first = loaded[0]
    for s in loaded[1:]:
        if (len(s), s.width, s.height) != (len(first), first.width, first.height):
            raise gdata.DataError(f"{s.dir}: {len(s)} views of {s.width}x{s.height}, but {first.dir} has "
                                  f"{len(first)} of {first.width}x{first.height}: prior subjects must agree")
    n_views = len(first)
    if cfg.prior.val_views >= n_views:
        raise gdata.DataError(f"{first.dir}: {n_views} views, prior.val_views = {cfg.prior.val_views} leaves none "
                              f"for training")

    def stack(key):
        return torch.from_numpy(np.stack([getattr(s, key) for s in loaded])).float().to(device)

    pairs = torch.stack(torch.meshgrid(torch.arange(len(loaded)), torch.arange(n_views), indexing="ij"), -1)
    held = held_out_views(n_views, cfg.prior.val_views)
    is_val = torch.zeros(n_views, dtype=torch.bool)
    is_val[held] = True
    images = torch.from_numpy(np.stack([np.round(s.images * 255).astype(np.uint8) for s in loaded]))
    return PriorData(dir=data_dir, subjects=subjects,
                     manifest_sha256=hashlib.sha256((data_dir / "manifest.json").read_bytes()).hexdigest(),
                     width=first.width, height=first.height, images=images,
                     K=stack("K"), w2c=stack("w2c"), shape=stack("shape"), expr=stack("expr"), jaw=stack("jaw"),
                     neck=stack("neck"), global_rt=stack("global_rt"),
                     train_pairs=pairs[:, ~is_val].reshape(-1, 2), val_pairs=pairs[:, is_val].reshape(-1, 2))


def held_out_views(n_views: int, k: int) -> list[int]:
    """k view indices spread evenly over the stored order (prior views are stored by increasing yaw)."""
    return sorted({int((i + 0.5) * n_views / k) for i in range(k)}) if k else []
