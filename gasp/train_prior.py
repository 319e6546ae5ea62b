"""Auto-decoder training of the GASP prior on the synthetic prior set (docs/architecture.md).

Each step takes a global batch of (subject, view) pairs, poses the head mesh with the view's saved
parameters, decodes the subject's Gaussians A_j = C + D(f, z_j), binds them to the posed mesh,
renders them at the view's camera and compares with the ground-truth RGBA (both composited over
`eval.background`). Single process, or DistributedDataParallel under torchrun (NCCL on GPUs, gloo
on CPU): rank r takes items r, r+K, ... of the same global batch, so K processes follow the same
trajectory as one.

Outputs in OUT: prior.pt (final), checkpoint.pt (periodic, removed at the end), train_log.csv,
loss_curve.png, val_grid.png, val_metrics.json. A run resumes from checkpoint.pt when its config,
data and variant match (model, optimiser, RNG and data position are restored).

    torchrun --nproc_per_node=K -m gasp.train_prior --data DIR --variant all --out DIR [--preset ci]
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gasp import data as gdata
from gasp.config import Config
from gasp.device import choose_device, set_torch_threads
from gasp.io import atomic_path, atomic_write_json, atomic_write_text
from gasp.prior import GaspPrior, read_checkpoint

# Loss columns are weighted terms (they sum to `loss`); l1 and psnr are unweighted, for reading.
LOG_FIELDS = ["step", "epoch", "loss", "photo", "alpha", "lpips", "scale", "disp", "latent", "l1", "psnr",
              "images_per_s", "elapsed_s"]
LOSS_FIELDS = LOG_FIELDS[2:11]


# ------------------------------------------------------------------------------------------------
# Data


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


class BatchOrder:
    """The global data order: epochs of seeded permutations of the training pairs, concatenated.

    The batch of step s is items [s*B, (s+1)*B) of that sequence: a pure function of (seed, s),
    so a resumed run continues at the same position without saved sampler state.
    """

    def __init__(self, n_pairs: int, batch_size: int, seed: int):
        self.n, self.batch, self.seed = n_pairs, batch_size, seed

    @functools.lru_cache(maxsize=4)
    def _perm(self, epoch: int) -> Tensor:
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))

    def indices(self, step: int) -> Tensor:
        """(B,) indices into the training pairs for step `step` (0-based)."""
        pos = torch.arange(step * self.batch, (step + 1) * self.batch)
        return torch.stack([self._perm(int(p) // self.n)[int(p) % self.n] for p in pos])

    def epoch(self, step: int) -> int:
        return step * self.batch // self.n


# ------------------------------------------------------------------------------------------------
# One step: pose, decode, bind, render, losses


class Timer:
    """Accumulated wall time per named section (CUDA-synchronised), for benchmarks/train_step.py."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.total: dict[str, float] = {}

    @contextlib.contextmanager
    def section(self, name: str):
        if self.cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        yield
        if self.cuda:
            torch.cuda.synchronize()
        self.total[name] = self.total.get(name, 0.0) + time.perf_counter() - t


def _section(timer: Timer | None, name: str):
    return timer.section(name) if timer is not None else contextlib.nullcontext()


class Renderer:
    """Poses the mesh for (subject, view) rows of a PriorData and renders decoded attributes on it."""

    def __init__(self, head, data: PriorData, cfg: Config, device):
        from gasp.metrics.images import background_rgb

        self.head, self.data, self.cfg, self.device = head, data, cfg, torch.device(device)
        self.faces = head.faces.to(self.device)
        self.background = torch.tensor(background_rgb(cfg.eval.background), device=self.device)

    def posed_verts(self, pairs: Tensor) -> Tensor:
        """(B,V,3) mesh vertices of each row's view (constant data: no gradient)."""
        d, j, v = self.data, pairs[:, 0], pairs[:, 1]
        with torch.no_grad():
            return self.head.verts(d.shape[j], d.expr[j, v], d.jaw[j, v], d.neck[j, v], d.global_rt[j, v])

    def render(self, attrs: Tensor, pairs: Tensor, binding, timer: Timer | None = None) -> tuple[Tensor, Tensor]:
        """attrs (B,N,A) -> composited colours (B,H,W,3) and alphas (B,H,W,1) at each row's camera."""
        from gasp.avatar_package import splat_frames

        d, j, v = self.data, pairs[:, 0], pairs[:, 1]
        with _section(timer, "bind"):  # posing counts as binding (benchmarks/train_step.py)
            verts = self.posed_verts(pairs)
        return splat_frames(attrs, verts, self.faces, binding, self.cfg.avatar, d.K[j, v], d.w2c[j, v], d.width,
                            d.height, self.background, timer)

    def target(self, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """Ground truth of the rows: composited colours (B,H,W,3) and alphas (B,H,W,1)."""
        from gasp.metrics.images import composite_rgba

        rgba = self.data.rgba(pairs, self.device)
        return composite_rgba(rgba, self.background), rgba[..., 3:]


class Objective:
    """The weighted training loss: the image terms (gasp/losses.py `Photometric`, weights from
    PriorConfig) and the regularisers."""

    def __init__(self, cfg: Config, model: GaspPrior, device):
        from gasp import losses

        self.losses, self.p = losses, cfg.prior
        self.disp_weights = model.displacement_weights(cfg.prior.scalp_disp_factor).to(device)
        self.photometric = losses.Photometric(cfg.prior, cfg.metrics, "prior")
        self.lpips_note = self.photometric.note

    def __call__(self, pred: Tensor, alpha: Tensor, gt: Tensor, gt_alpha: Tensor, attrs: Tensor,
                 z: Tensor) -> dict[str, Tensor]:
        """Images (B,H,W,3), alphas (B,H,W,1), attrs (B,N,A), codes (B,L) -> weighted terms; 'loss' is their sum."""
        from gasp.avatar import LOG_SCALE, OFFSET

        L, p = self.losses, self.p
        b = attrs.shape[0]
        t = {**self.photometric.terms(pred, alpha, gt, gt_alpha),
             "scale": p.w_scale * L.scale_reg(attrs[..., LOG_SCALE].reshape(-1, 3)),
             "disp": p.w_disp * L.displacement_reg(attrs[..., OFFSET].reshape(-1, 3), self.disp_weights.repeat(b)),
             "latent": p.w_latent * L.latent_reg(z)}
        t["loss"] = sum(t.values())
        with torch.no_grad():
            t["l1"] = (pred - gt).abs().mean()  # unweighted, for the log
        return t


def train_step(net, renderer: Renderer, objective: Objective, optim: torch.optim.Optimizer, pairs: Tensor, binding,
               timer: Timer | None = None) -> dict[str, Tensor]:
    """One optimisation step on (subject, view) rows (B,2); returns the loss terms and the batch PSNR."""
    with _section(timer, "decode"):
        attrs, z = net(pairs[:, 0].to(renderer.device))
    pred, alpha = renderer.render(attrs, pairs, binding, timer)
    with _section(timer, "loss"):
        gt, gt_alpha = renderer.target(pairs)
        terms = objective(pred, alpha, gt, gt_alpha, attrs, z)
    with _section(timer, "backward"):
        optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optim.step()
    terms["psnr"] = psnr(pred.detach(), gt).mean()
    return terms


def psnr(pred: Tensor, gt: Tensor) -> Tensor:
    """(B,H,W,3) images in 0..1 -> (B,) PSNR in dB (gasp/metrics/psnr.py), capped at 100 dB: the log's
    non-finite check must not stop a run on a perfect image."""
    from gasp.metrics.psnr import psnr as metric

    return metric(pred.permute(0, 3, 1, 2), gt.permute(0, 3, 1, 2), max_db=100.0)


# ------------------------------------------------------------------------------------------------
# Setup helpers


def code_version() -> dict:
    """The git commit (+dirty) when in a checkout, and a hash of the gasp package sources."""
    root = Path(__file__).resolve().parent
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


def build_model(cfg: Config, head, n_subjects: int) -> GaspPrior:
    from gasp.avatar import template_attributes
    from gasp.head.uv import uv_binding

    binding = uv_binding(head, cfg.avatar.uv_resolution)
    template = template_attributes(binding, cfg.avatar)
    return GaspPrior.from_binding(cfg.prior, template, binding, n_subjects, head.regions, seed=cfg.synth.seed)


def make_optimizer(cfg: Config, model: GaspPrior) -> torch.optim.Optimizer:
    p = cfg.prior
    return torch.optim.Adam([{"params": model.decoder_parameters(), "lr": p.lr_decoder}, {"params": [model.latents], "lr": p.lr_latent},
                             {"params": [model.features], "lr": p.lr_features},
                             {"params": [model.template], "lr": p.lr_template}])


def set_learning_rates(optim: torch.optim.Optimizer, base: list[float], step: int, steps: int, decay: float) -> None:
    """Exponential decay from the configured rates to `decay` times them at the last step (a function of
    the step alone, so a resumed run needs no scheduler state)."""
    factor = decay ** (step / max(steps - 1, 1))
    for group, lr in zip(optim.param_groups, base):
        group["lr"] = lr * factor


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------------
# Training


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def train(cfg: Config, data_dir: str | Path, variant: str, out_dir: str | Path, progress: bool = True) -> Path:
    """Train (or resume) one prior variant; returns the path of prior.pt. Call under torchrun for DDP."""
    dist = Dist.from_env()
    device = choose_device(cfg.compute, dist.local_rank)
    set_torch_threads(cfg.compute)
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(cfg, Path(data_dir), variant, Path(out_dir), dist, device, progress)
    finally:
        if dist.world > 1:
            import torch.distributed as tdist

            tdist.destroy_process_group()


def _train(cfg: Config, data_dir: Path, variant: str, out: Path, dist: Dist, device, progress: bool) -> Path:
    from gasp.head import build_head_model

    p = cfg.prior
    if p.batch_size % dist.world:
        raise ValueError(f"prior.batch_size ({p.batch_size}) must be a multiple of the process count ({dist.world})")
    torch.manual_seed(cfg.synth.seed)
    head = build_head_model(cfg.head).to(device)
    data = load_prior_data(data_dir, variant, cfg, device)
    model = build_model(cfg, head, len(data.subjects)).to(device)
    optim = make_optimizer(cfg, model)
    base_lrs = [g["lr"] for g in optim.param_groups]
    steps = variant_steps(cfg, variant)
    key = run_key(cfg, variant, data.manifest_sha256)
    ckpt_path, final_path = out / "checkpoint.pt", out / "prior.pt"

    state = {"step": 0, "log": [], "window": {}, "window_n": 0, "elapsed": 0.0}
    if ckpt_path.exists():
        blob = read_checkpoint(ckpt_path, device)
        if blob["meta"].get("run_key") == key and blob.get("train"):
            model.load_state_dict(blob["state"])
            optim.load_state_dict(blob["train"]["optimizer"])
            _set_rng_state(blob["train"]["rng"])
            state = {k: blob["train"][k] for k in state}
            if dist.main:
                print(f"train-prior: resuming {ckpt_path} at step {state['step']}", file=sys.stderr)
        elif dist.main:
            warnings.warn(f"{ckpt_path}: written for another config, data or variant; starting afresh", stacklevel=2)

    net = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                      forward_sync_buffers=False)  # buffers (the binding) never change
    renderer = Renderer(head, data, cfg, device)
    with warnings.catch_warnings():
        if not dist.main:  # warn once, not once per process
            warnings.simplefilter("ignore")
        objective = Objective(cfg, model, device)
    order = BatchOrder(len(data.train_pairs), p.batch_size, cfg.synth.seed)
    binding = model.binding
    meta = {"config": cfg.to_dict(), "variant": variant, "subjects": data.subjects, "data_dir": str(data_dir),
            "manifest_sha256": data.manifest_sha256, "code_version": code_version(), "run_key": key,
            "lpips": objective.lpips_note, "world_size": dist.world, "steps": steps,
            "val_views": p.val_views}

    def save(path: Path, final: bool = False):
        train_state = {**state, "optimizer": optim.state_dict(), "rng": _rng_state()}
        model.save(path, meta={**meta, "steps_done": state["step"], "final": final}, train=train_state)

    bar = None
    if dist.main and progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=state["step"], desc=f"prior[{variant}]", unit="step", mininterval=1.0,
                   dynamic_ncols=True)
    t_start = time.perf_counter() - state["elapsed"]
    t_window = time.perf_counter()
    while state["step"] < steps:
        step = state["step"]
        pairs = data.train_pairs[order.indices(step)[dist.rank::dist.world]]
        set_learning_rates(optim, base_lrs, step, steps, p.lr_decay)
        terms = train_step(net, renderer, objective, optim, pairs, binding)
        with torch.no_grad():
            vals = torch.stack([terms[k].detach().float() for k in LOSS_FIELDS])
            if dist.world > 1:
                import torch.distributed as tdist

                tdist.all_reduce(vals)
                vals /= dist.world
        if not all(math.isfinite(v) for v in vals.tolist()):
            raise FloatingPointError(f"train-prior: non-finite loss at step {step + 1}: "
                                     f"{dict(zip(LOSS_FIELDS, vals.tolist()))}")
        for k, v in zip(LOSS_FIELDS, vals.tolist()):
            state["window"][k] = state["window"].get(k, 0.0) + v
        state["window_n"] += 1
        state["step"] = step + 1
        done = state["step"]
        if done == 1 or done % p.log_every == 0 or done == steps:
            now = time.perf_counter()
            row = {"step": done, "epoch": order.epoch(step),
                   **{k: state["window"][k] / state["window_n"] for k in LOSS_FIELDS},
                   "images_per_s": state["window_n"] * p.batch_size / max(now - t_window, 1e-9),
                   "elapsed_s": now - t_start}
            state["log"].append(row)
            state["window"], state["window_n"], t_window = {}, 0, now
            if dist.main:
                write_log_csv(out / "train_log.csv", state["log"])
        state["elapsed"] = time.perf_counter() - t_start
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{vals[0]:.4f}", psnr=f"{terms['psnr']:.2f}", refresh=False)
        if dist.main and done % p.checkpoint_every == 0 and done < steps:
            save(ckpt_path)
    if bar is not None:
        bar.close()
    if dist.main:
        val = validate(model, renderer, data, cfg, out / "val_grid.png")
        meta["val"] = val
        meta["wall_s"] = state["elapsed"]
        atomic_write_json(out / "val_metrics.json", {**val, "wall_s": state["elapsed"], "steps": steps,
                                                     "steps_per_s": steps / max(state["elapsed"], 1e-9)})
        plot_loss_curve(state["log"], out / "loss_curve.png", title=f"prior [{variant}]")
        save(final_path, final=True)
        ckpt_path.unlink(missing_ok=True)
    return final_path


# ------------------------------------------------------------------------------------------------
# Logs, curves, validation


def write_log_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def read_log_csv(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def plot_loss_curve(rows: list[dict], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in ("loss", "photo", "alpha", "lpips", "disp", "scale"):
        ys = [r[k] for r in rows]
        if any(y > 0 for y in ys):
            ax.plot(steps, ys, label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    ax.set_title(f"{title} losses")
    ax2.plot(steps, [r["psnr"] for r in rows], color="k")
    ax2.set_xlabel("step")
    ax2.set_ylabel("train PSNR (dB)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def render_pairs(model: GaspPrior, renderer: Renderer, pairs: Tensor, codes: Tensor | None = None) -> Tensor:
    """No-grad renders (B,H,W,3) of (subject, view) rows with each subject's code (or `codes` (B,L))."""
    out = []
    with torch.no_grad():
        for i in range(len(pairs)):
            row = pairs[i:i + 1]
            z = model.latents[row[:, 0].to(model.latents.device)] if codes is None else codes[i:i + 1]
            out.append(renderer.render(model.decode(z), row, model.binding)[0])
    return torch.cat(out)


def validate(model: GaspPrior, renderer: Renderer, data: PriorData, cfg: Config, grid_path: Path) -> dict:
    """PSNR on the held-out views of every training subject (own code, and the mean code as a
    reference), and a grid of ground truth | reconstruction for the first `val_subjects`."""
    if len(data.val_pairs) == 0:
        return {"val_views": 0}
    pairs = data.val_pairs
    gt, _ = renderer.target(pairs)
    pred = render_pairs(model, renderer, pairs)
    mean = render_pairs(model, renderer, pairs, model.mean_latent()[None].expand(len(pairs), -1))
    result = {"val_views": cfg.prior.val_views, "val_images": len(pairs),
              "psnr_heldout": float(psnr(pred, gt).mean()), "psnr_heldout_mean_code": float(psnr(mean, gt).mean())}
    shown = pairs[:, 0] < cfg.prior.val_subjects
    write_image_grid(grid_path, gt[shown], pred[shown], cols=cfg.prior.val_views)
    return result


def write_image_grid(path: Path, gt: Tensor, pred: Tensor, cols: int) -> None:
    """Rows of `cols` (gt | prediction) pairs; gt, pred (B,H,W,3) in 0..1, B a multiple of cols."""
    import cv2

    tiles = torch.stack([gt, pred], 1).clamp(0, 1).mul(255).round().byte().cpu().numpy()   # (B,2,H,W,3)
    b, _, h, w, _ = tiles.shape
    rows = tiles.reshape(b // cols, cols * 2, h, w, 3)
    grid = np.concatenate([np.concatenate(list(r), 1) for r in rows], 0)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write the image grid")


if __name__ == "__main__":
    from gasp.cli import main

    sys.exit(main(["train-prior", *sys.argv[1:]]))
