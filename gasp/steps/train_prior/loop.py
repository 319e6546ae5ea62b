"""`train`: one prior variant's run, single process or one rank of a DDP launch, resuming from its
checkpoint; writes the outputs listed in gasp/steps/train_prior/__init__.py."""
from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import torch

from gasp.config import Config
from gasp.device import choose_device, set_torch_threads
from gasp.io import atomic_write_json
from gasp.model.prior import GaspPrior, read_checkpoint
from gasp.steps.train_prior.batches import BatchOrder
from gasp.steps.train_prior.checkpoint import code_version, rng_state, run_key, set_rng_state
from gasp.steps.train_prior.data import load_prior_data, variant_steps
from gasp.steps.train_prior.dist import Dist
from gasp.steps.train_prior.log import LOSS_FIELDS, plot_loss_curve, write_log_csv
from gasp.steps.train_prior.schedule import make_optimizer, set_learning_rates
from gasp.steps.train_prior.step import Objective, Renderer, train_step
from gasp.steps.train_prior.validate import validate


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
    from gasp.model.head import build_head_model

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
            set_rng_state(blob["train"]["rng"])
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
        train_state = {**state, "optimizer": optim.state_dict(), "rng": rng_state()}
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


def build_model(cfg: Config, head, n_subjects: int) -> GaspPrior:
    from gasp.model.gaussians import template_attributes
    from gasp.model.head.uv import uv_binding

    binding = uv_binding(head, cfg.avatar.uv_resolution)
    template = template_attributes(binding, cfg.avatar)
    return GaspPrior.from_binding(cfg.prior, template, binding, n_subjects, head.regions, seed=cfg.synth.seed)
