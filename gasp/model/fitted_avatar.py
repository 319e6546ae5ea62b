"""A fitted avatar: explicit Gaussians bound to the head mesh, stored in one .npz, and its renderer.

The package needs no prior and no big network: per-Gaussian attributes (N,A) in gasp/model/gaussians.py's
layout, the UV binding (face ids, barycentrics, regions, uv), the head-model identity (shape
coefficients + the HeadConfig that rebuilds the model) and metadata (method, steps, losses, times).
`flashavatar_style` avatars also carry their small expression-conditioned offset MLP (a few
thousand weights, evaluated per frame; metadata `network` says how many).

`Avatar.render` is the one renderer of a fitted avatar (evaluation, turntable, animate, figures):
it goes through gasp/model/splat.py `splat_frames`, as fitting and training do.

File layout (`FORMAT`): arrays `attrs (N,A)`, `face_ids (N,)`, `barys (N,3)`, `regions (N,)`, `uv (N,2)`,
`shape (S,)`, optional `mlp.<param>`; `package` = JSON text {format, head, avatar, region_names,
mlp, meta}.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from gasp.config import AvatarConfig, HeadConfig
from gasp.io import atomic_write_bytes
from gasp.model.gaussians import gaussians_from_attributes
from gasp.model.head import build_head_model
from gasp.model.head.uv import Binding
from gasp.model.splat import compact_binding, splat_frames

FORMAT = 1
BINDING_KEYS = ("face_ids", "barys", "regions", "uv")


@functools.lru_cache(maxsize=4)
def head_model(cfg: HeadConfig, device: str = "cpu"):
    """The head model of a config on a device, built once per process (building takes seconds)."""
    return build_head_model(cfg).to(device)


class AvatarError(ValueError):
    """An avatar file is missing, truncated or wrong; the message names the file and the field."""


@dataclass
class Motion:
    """Head-model pose for T frames: expr (T,E), jaw (T,3), neck (T,3), global_rt (T,6) [axis-angle, t]."""
    expr: np.ndarray
    jaw: np.ndarray
    neck: np.ndarray
    global_rt: np.ndarray

    def __post_init__(self):
        t = len(self.expr)
        for name, width in (("jaw", 3), ("neck", 3), ("global_rt", 6)):
            arr = getattr(self, name)
            if arr.shape != (t, width):
                raise ValueError(f"Motion.{name}: shape {arr.shape}, expected ({t}, {width})")

    def __len__(self) -> int:
        return len(self.expr)

    def take(self, idx) -> "Motion":
        idx = np.atleast_1d(np.asarray(idx))
        return Motion(self.expr[idx], self.jaw[idx], self.neck[idx], self.global_rt[idx])

    @classmethod
    def neutral(cls, n: int, n_expr: int) -> "Motion":
        z3 = np.zeros((n, 3), np.float32)
        return cls(np.zeros((n, n_expr), np.float32), z3, z3.copy(), np.zeros((n, 6), np.float32))

    @classmethod
    def from_subject(cls, subject) -> "Motion":
        """The per-view parameters of a gasp.data.Subject (or a `select`ion of it)."""
        return cls(subject.expr, subject.jaw, subject.neck, subject.global_rt)

    def centred(self) -> "Motion":
        """The same motion with the head moving about its mean position (a capture's translations
        are relative to its own camera; a viewer's or a video's camera looks at the origin)."""
        rt = self.global_rt.copy()
        rt[:, 3:] -= rt[:, 3:].mean(0)
        return Motion(self.expr, self.jaw, self.neck, rt)

    @classmethod
    def of_subject(cls, subject) -> "Motion":
        """A subject's own motion, to drive an avatar: its video frames, else its single image
        (a photo capture), else all its views."""
        for group in ("video", "single"):
            if (subject.groups == group).any():
                return cls.from_subject(subject.select(group))
        return cls.from_subject(subject)

    @classmethod
    def from_npz(cls, path: str | Path) -> "Motion":
        """A drive sequence: any .npz with expr (T,E), jaw, neck (T,3), global_rt (T,6) (e.g. params.npz)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (FileNotFoundError, ValueError, OSError, zipfile.BadZipFile) as e:
            raise AvatarError(f"{path}: not a readable .npz: {e}") from None
        out = {}
        for key in ("expr", "jaw", "neck", "global_rt"):
            if key not in arrays:
                raise AvatarError(f"{path}: {key}: missing")
            a = np.asarray(arrays[key], np.float32)
            if a.ndim != 2 or not np.isfinite(a).all():
                raise AvatarError(f"{path}: {key}: must be a finite (T, *) array, got shape {a.shape}")
            out[key] = a
        try:
            return cls(**out)
        except ValueError as e:
            raise AvatarError(f"{path}: {e}") from None


class OffsetMLP(nn.Module):
    """FlashAvatar-style deformation: (Gaussian uv encoding, expr + jaw) -> offsets of [offset|quat|log_scale].

    Split first layer as the prior's decoder: the per-Gaussian part (N,H) and the per-frame part
    (T,H) are computed once and broadcast. Last layer zero-initialised: an untrained MLP is no-op.
    """
    OUT = 10  # attribute slots 0:10 = offset 3, quat 4, log_scale 3 (gasp/model/gaussians.py layout)

    def __init__(self, n_cond: int, hidden: int = 64, layers: int = 2, freqs: int = 4):
        super().__init__()
        self.n_cond, self.hidden_dim, self.layers, self.freqs = n_cond, hidden, layers, freqs
        self.first_g = nn.Linear(2 + 4 * freqs, hidden, bias=False)
        self.first_e = nn.Linear(n_cond, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, self.OUT)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def arch(self) -> dict:
        return {"n_cond": self.n_cond, "hidden": self.hidden_dim, "layers": self.layers, "freqs": self.freqs}

    def encode(self, uv: Tensor) -> Tensor:
        """uv (N,2) in 0..1 -> (N, 2 + 4*freqs) sin/cos positional encoding."""
        f = (2.0 ** torch.arange(self.freqs, device=uv.device, dtype=uv.dtype)) * torch.pi
        x = uv.unsqueeze(-1) * f                                        # (N,2,F)
        return torch.cat([uv, torch.sin(x).flatten(1), torch.cos(x).flatten(1)], dim=1)

    def forward(self, uv: Tensor, cond: Tensor) -> Tensor:
        """uv (N,2), cond (T,C) -> attribute deltas (T,N,OUT)."""
        h = torch.nn.functional.silu(self.first_g(self.encode(uv)).unsqueeze(0) + self.first_e(cond).unsqueeze(1))
        for layer in self.hidden:
            h = torch.nn.functional.silu(layer(h))
        return self.out(h)


@dataclass
class Avatar:
    """attrs (N,A) float32; binding (face_ids, barys, regions, uv); shape (S,) identity coefficients."""
    attrs: Tensor
    binding: Binding
    shape: Tensor
    head_cfg: HeadConfig
    avatar_cfg: AvatarConfig
    region_names: list[str]
    mlp: OffsetMLP | None = None
    meta: dict = field(default_factory=dict)
    _head: object = field(default=None, repr=False)

    @property
    def head(self):
        """The head model (procedural: rebuilt deterministically from `head_cfg`)."""
        if self._head is None:
            self._head = head_model(self.head_cfg, str(self.attrs.device))
        return self._head

    @property
    def n_gaussians(self) -> int:
        return self.attrs.shape[0]

    def to(self, device) -> "Avatar":
        b = Binding(**{k: getattr(self.binding, k).to(device) for k in BINDING_KEYS})
        return dataclasses.replace(self, attrs=self.attrs.to(device), binding=b, shape=self.shape.to(device),
                                   mlp=None if self.mlp is None else self.mlp.to(device), _head=None)

    # ---------------------------------------------------------------------------------------------
    # Posing and rendering

    def verts(self, motion: Motion) -> Tensor:
        """Posed mesh vertices (T,V,3) for each frame of `motion`."""
        head, dev = self.head, self.attrs.device
        if motion.expr.shape[1] != head.n_expr:
            raise AvatarError(f"motion has {motion.expr.shape[1]} expression coefficients, the head model "
                              f"{head.n_expr}")
        t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=dev)  # noqa: E731
        shape = self.shape.to(dev).unsqueeze(0).expand(len(motion), -1)
        return head.verts(shape, t(motion.expr), t(motion.jaw), t(motion.neck), t(motion.global_rt))

    def frame_attributes(self, motion: Motion) -> Tensor:
        """(N,A) for a static avatar, (T,N,A) with the offset MLP applied per frame."""
        if self.mlp is None:
            return self.attrs
        return apply_offsets(self.attrs, self.mlp, self.binding.uv, motion_condition(motion, self.attrs.device))

    def gaussians(self, motion: Motion) -> tuple[Tensor, ...]:
        """World-space Gaussians per frame of `motion`: means (T,N,3), quats (T,N,4) wxyz, scales (T,N,3),
        opacities (T,N), sh (T,N,K,3)."""
        return gaussians_from_attributes(self.frame_attributes(motion), self.verts(motion),
                                         self.head.faces.to(self.attrs.device), self.binding,
                                         self.avatar_cfg.scale_mode)

    @torch.no_grad()
    def render(self, motion: Motion, K, w2c, width: int, height: int, background=(1.0, 1.0, 1.0),
               chunk: int = 8) -> tuple[Tensor, Tensor]:
        """Frame t of `motion` seen by camera t: K (T,3,3), w2c (T,4,4) OpenCV world-to-camera;
        background (3,) in 0..1 -> rgb (T,H,W,3), alpha (T,H,W,1) (on the avatar's device)."""
        dev = self.attrs.device
        K = torch.as_tensor(np.asarray(K), dtype=torch.float32, device=dev)
        w2c = torch.as_tensor(np.asarray(w2c), dtype=torch.float32, device=dev)
        if len(K) != len(motion) or len(w2c) != len(motion):
            raise ValueError(f"render: {len(motion)} frames but {len(K)} K and {len(w2c)} w2c")
        bg = torch.as_tensor(background, dtype=torch.float32, device=dev)
        faces, binding = compact_binding(self.head.faces, self.binding)
        out_rgb, out_alpha = [], []
        for s in range(0, len(motion), chunk):  # bounded memory for long sequences
            m = motion.take(np.arange(s, min(s + chunk, len(motion))))
            rgb, alpha = splat_frames(self.frame_attributes(m), self.verts(m), faces, binding, self.avatar_cfg,
                                      K[s:s + len(m)], w2c[s:s + len(m)], width, height, bg)
            out_rgb.append(rgb)
            out_alpha.append(alpha)
        return torch.cat(out_rgb), torch.cat(out_alpha)

    # ---------------------------------------------------------------------------------------------
    # File

    def save(self, path: str | Path, half: bool = False) -> int:
        """Write the package atomically (float16 attributes with `half`); returns the file size in bytes."""
        dtype = np.float16 if half else np.float32
        arrays = {"attrs": self.attrs.detach().cpu().numpy().astype(dtype),
                  "shape": self.shape.detach().cpu().numpy().astype(np.float32)}
        for k, dt in zip(BINDING_KEYS, (np.int32, np.float32, np.int16, np.float32)):  # compact index types
            arrays[k] = getattr(self.binding, k).detach().cpu().numpy().astype(dt)
        if self.mlp is not None:
            for k, v in self.mlp.state_dict().items():
                arrays[f"mlp.{k}"] = v.detach().cpu().numpy().astype(np.float32)
        package = {"format": FORMAT, "head": dataclasses.asdict(self.head_cfg),
                   "avatar": dataclasses.asdict(self.avatar_cfg), "region_names": list(self.region_names),
                   "mlp": None if self.mlp is None else self.mlp.arch(), "meta": self.meta}
        arrays["package"] = np.array(json.dumps(package))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return len(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path, device="cpu") -> "Avatar":
        path = Path(path)
        if not path.is_file():
            raise AvatarError(f"{path}: avatar file not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise AvatarError(f"{path}: not a readable avatar package (truncated?): {type(e).__name__}: {e}") from None
        for key in ("package", "attrs", "shape", *BINDING_KEYS):
            if key not in arrays:
                raise AvatarError(f"{path}: {key}: missing")
        try:
            package = json.loads(str(arrays["package"]))
        except json.JSONDecodeError as e:
            raise AvatarError(f"{path}: package: not valid JSON: {e}") from None
        if package.get("format") != FORMAT:
            raise AvatarError(f"{path}: package.format: {package.get('format')!r}, this code reads {FORMAT}")
        attrs = arrays["attrs"].astype(np.float32)
        n = len(attrs)
        expect = {"attrs": (n, attrs.shape[1] if attrs.ndim == 2 else -1), "face_ids": (n,), "barys": (n, 3),
                  "regions": (n,), "uv": (n, 2)}
        for key, shp in expect.items():
            if arrays[key].shape != shp:
                raise AvatarError(f"{path}: {key}: shape {arrays[key].shape}, expected {shp}")
        for key in ("attrs", "shape", "barys", "uv"):
            if not np.isfinite(arrays[key]).all():
                raise AvatarError(f"{path}: {key}: contains NaN or inf")
        try:
            head_cfg = HeadConfig(**package["head"])
            avatar_cfg = AvatarConfig(**package["avatar"])
        except (KeyError, TypeError) as e:
            raise AvatarError(f"{path}: package.head/avatar: not a valid config: {e}") from None
        mlp = None
        if package.get("mlp"):
            mlp = OffsetMLP(**package["mlp"])
            state = {k[4:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("mlp.")}
            try:
                mlp.load_state_dict(state)
            except RuntimeError as e:
                raise AvatarError(f"{path}: mlp.*: weights do not fit package.mlp: {e}") from None
        binding = Binding(face_ids=torch.from_numpy(arrays["face_ids"]).long(),
                          barys=torch.from_numpy(arrays["barys"]).float(),
                          regions=torch.from_numpy(arrays["regions"]).long(),
                          uv=torch.from_numpy(arrays["uv"]).float())
        avatar = cls(torch.from_numpy(attrs), binding, torch.from_numpy(arrays["shape"]).float(), head_cfg,
                     avatar_cfg, list(package.get("region_names", [])), mlp, package.get("meta", {}))
        return avatar.to(device)


def motion_condition(motion: Motion, device="cpu") -> Tensor:
    """The offset MLP's per-frame input: [expr | jaw] (T, E+3)."""
    return torch.as_tensor(np.concatenate([motion.expr, motion.jaw], axis=1), dtype=torch.float32, device=device)


def apply_offsets(attrs: Tensor, mlp: OffsetMLP, uv: Tensor, cond: Tensor) -> Tensor:
    """attrs (N,A) + MLP deltas on slots 0:10 -> (T,N,A)."""
    delta = mlp(uv, cond)
    pad = torch.zeros(*delta.shape[:2], attrs.shape[1] - OffsetMLP.OUT, device=attrs.device, dtype=attrs.dtype)
    return attrs.unsqueeze(0) + torch.cat([delta, pad], dim=2)
