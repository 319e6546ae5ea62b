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

Modules: data (the variant's subjects as tensors, held-out views), batches (the seeded global data
order), step (render, objective, one optimisation step), schedule (optimiser and learning rates),
checkpoint (what a resumable run must match, RNG state, code version), dist (the process's rank),
loop (`train`: the run), log (train_log.csv and the loss curve), validate (held-out PSNR and the
grid), timer (seconds per section, for benchmarks/train_step.py).

    torchrun --nproc_per_node=K -m gasp.steps.train_prior --data DIR --variant all --out DIR [--preset ci]
"""
