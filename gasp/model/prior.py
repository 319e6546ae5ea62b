"""The GASP prior: canonical template + per-Gaussian features + per-subject codes + shared decoder.

    A_ij = C_i + D(f_i, z_j)          (docs/architecture.md)

C (N,A) is the canonical template in the attribute layout of gasp/model/gaussians.py, f (N,F) a learnable
feature per Gaussian, z (J,L) one identity code per training subject, D an MLP. D's first layer is
split, W_f f_i + W_z z_j + b, so the z part is computed once per subject and broadcast over the N
Gaussians; its last layer starts at zero so an untrained prior renders the template.

The model also carries the UV binding it was built on (face ids, barycentrics, regions, uv) so a
checkpoint alone is enough to bind, fit, render and inspect it.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from gasp.config import PriorConfig
from gasp.io import atomic_path

FORMAT = 1
SCALP = "scalp"


class CheckpointError(ValueError):
    """A prior checkpoint is missing, truncated or wrong; the message names the file."""


class GaspPrior(nn.Module):
    """Template (N,A), features (N,F), latents (J,L), decoder MLP.

    Binding buffers: face_ids (N,) long, barys (N,3), regions (N,) long, uv (N,2);
    `region_names[label]` names a region label.
    """

    def __init__(self, cfg: PriorConfig, template: Tensor, n_subjects: int, face_ids: Tensor, barys: Tensor,
                 regions: Tensor, uv: Tensor, region_names: Sequence[str], seed: int = 0):
        super().__init__()
        n, a = template.shape
        for name, t, shp in (("face_ids", face_ids, (n,)), ("barys", barys, (n, 3)), ("regions", regions, (n,)),
                             ("uv", uv, (n, 2))):
            if tuple(t.shape) != shp:
                raise ValueError(f"GaspPrior: {name} has shape {tuple(t.shape)}, expected {shp}")
        self.cfg = cfg
        self.region_names = list(region_names)
        gen = torch.Generator().manual_seed(seed)
        self.template = nn.Parameter(template.detach().clone().float())
        # Small random features: distinct enough to break symmetry, small enough that the
        # learned structure (what `gasp prior inspect` shows) dominates after training.
        self.features = nn.Parameter(0.1 * torch.randn(n, cfg.feature_dim, generator=gen))
        # DeepSDF-style codes near zero, so every subject starts at the template.
        self.latents = nn.Parameter(0.01 * torch.randn(n_subjects, cfg.latent_dim, generator=gen))
        h = cfg.hidden_dim
        self.first_f = nn.Linear(cfg.feature_dim, h, bias=False)
        self.first_z = nn.Linear(cfg.latent_dim, h)
        self.hidden = nn.ModuleList(nn.Linear(h, h) for _ in range(cfg.hidden_layers - 1))
        self.out = nn.Linear(h, a)
        with torch.no_grad():
            for layer in (self.first_f, self.first_z, *self.hidden):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=gen)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=gen)
            self.out.weight.zero_()
            self.out.bias.zero_()
        self.register_buffer("face_ids", face_ids.detach().clone().long())
        self.register_buffer("barys", barys.detach().clone().float())
        self.register_buffer("regions", regions.detach().clone().long())
        self.register_buffer("uv", uv.detach().clone().float())
        self._init_args = {"n_gaussians": n, "attr_dim": a, "n_subjects": n_subjects,
                           "region_names": self.region_names, "seed": seed}

    @classmethod
    def from_binding(cls, cfg: PriorConfig, template: Tensor, binding, n_subjects: int,
                     region_names: Sequence[str], seed: int = 0) -> "GaspPrior":
        """From `template_attributes(binding, AvatarConfig)` (N,A) and a `uv_binding(...)` Binding."""
        return cls(cfg, template, n_subjects, binding.face_ids, binding.barys, binding.regions, binding.uv,
                   region_names, seed)

    # ---------------------------------------------------------------------------------------------
    # Sizes and views

    @property
    def n_gaussians(self) -> int:
        return self.template.shape[0]

    @property
    def n_subjects(self) -> int:
        return self.latents.shape[0]

    @property
    def binding(self):
        """The UV binding as gasp/model/head/uv.py's Binding (face_ids, barys, regions, uv)."""
        from gasp.model.head.uv import Binding

        return Binding(face_ids=self.face_ids, barys=self.barys, regions=self.regions, uv=self.uv)

    @property
    def scalp(self) -> Tensor:
        """(N,) bool: Gaussians on the scalp region (their displacement is regularised less)."""
        if SCALP not in self.region_names:
            return torch.zeros_like(self.regions, dtype=torch.bool)
        return self.regions == self.region_names.index(SCALP)

    def displacement_weights(self, scalp_factor: float) -> Tensor:
        """(N,) weight of each Gaussian's displacement regulariser: 1, or `scalp_factor` on the scalp."""
        w = torch.ones(self.n_gaussians, device=self.template.device)
        return w.masked_fill(self.scalp, scalp_factor)

    def decoder_parameters(self) -> list[nn.Parameter]:
        """The MLP D's weights (what fitting stage 2 fine-tunes); not C, f or z."""
        return [p for m in (self.first_f, self.first_z, *self.hidden, self.out) for p in m.parameters()]

    def mean_latent(self) -> Tensor:
        """(L,) the mean of the training codes: the usual start for inverting a new subject."""
        return self.latents.detach().mean(0)

    # ---------------------------------------------------------------------------------------------
    # Decoding

    def delta(self, z: Tensor) -> Tensor:
        """D(f, z): z (B,L) -> attribute offsets (B,N,A). The z part of layer 1 is computed once per row."""
        hz = self.first_z(z)                                   # (B,H): once per subject
        hf = self.first_f(self.features)                       # (N,H): shared by all subjects
        h = torch.nn.functional.silu(hf.unsqueeze(0) + hz.unsqueeze(1))
        for layer in self.hidden:
            h = torch.nn.functional.silu(layer(h))
        return self.out(h)

    def decode(self, z: Tensor) -> Tensor:
        """A = C + D(f, z): z (B,L) -> attributes (B,N,A)."""
        return self.template.unsqueeze(0) + self.delta(z)

    def forward(self, subject_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Training subjects (B,) long -> (attributes (B,N,A), their codes (B,L)).

        Each distinct subject is decoded once even when it appears several times in the batch.
        Returning the codes lets callers regularise them through this call (one autograd path per
        parameter, as DistributedDataParallel requires).
        """
        unique, inverse = torch.unique(subject_ids, return_inverse=True)
        z = self.latents[unique]
        return self.decode(z)[inverse], z[inverse]

    # ---------------------------------------------------------------------------------------------
    # Checkpoints

    def save(self, path: str | Path, meta: dict[str, Any] | None = None, train: dict[str, Any] | None = None) -> None:
        """Write atomically: model (constructor arguments + state), `meta` (config, data hash, code
        version, ...) and the optional `train` state (optimiser, RNG, step) for resuming."""
        blob = {"format": FORMAT, "kind": "gasp_prior", "cfg": dataclasses.asdict(self.cfg), "init": self._init_args,
                "state": self.state_dict(), "meta": meta or {}, "train": train}
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> tuple["GaspPrior", dict]:
        """(model, metadata) from a checkpoint written by `save`."""
        blob = read_checkpoint(path, map_location)
        model = cls.from_checkpoint(blob, path)
        return model, blob["meta"]

    @classmethod
    def from_checkpoint(cls, blob: dict, path: str | Path = "<checkpoint>") -> "GaspPrior":
        """The model of an already read checkpoint dict (see `read_checkpoint`)."""
        init, state = blob["init"], blob["state"]
        known = {f.name for f in dataclasses.fields(PriorConfig)}
        cfg = PriorConfig(**{k: v for k, v in blob["cfg"].items() if k in known})
        try:
            model = cls(cfg, state["template"], init["n_subjects"], state["face_ids"], state["barys"],
                        state["regions"], state["uv"], init["region_names"], init["seed"])
            model.load_state_dict(state)
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: model state does not fit the stored sizes: {e}") from None
        return model


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, checked: readable, of this kind and format, every tensor finite."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not written by torch.save): "
                              f"{type(e).__name__}: {e}") from None
    if not isinstance(blob, dict) or blob.get("kind") != "gasp_prior":
        raise CheckpointError(f"{path}: not a GASP prior checkpoint")
    if blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {blob.get('format')!r}, this code reads format {FORMAT}")
    for key in ("cfg", "init", "state", "meta"):
        if not isinstance(blob.get(key), dict):
            raise CheckpointError(f"{path}: field {key!r} missing or not a mapping")
    for name, t in blob["state"].items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: state.{name} contains NaN or inf")
    return blob
