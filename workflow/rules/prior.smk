# Prior training (issue 6): one job per variant (all / few / one subjects of the prior set), then
# `gasp prior inspect` (feature PCA figures + k-NN region probe). The code is listed as input so
# edits re-trigger training (a shell rule does not notice edits to what it calls).
import glob

PRIOR_CODE = sorted(["gasp/prior.py", "gasp/train_prior.py", "gasp/losses.py", "gasp/avatar.py", "gasp/data.py",
                     "gasp/cli/prior.py", *glob.glob("gasp/head/*.py"), *glob.glob("gasp/render/*.py")])
# Processes per training job: one per GPU of the allocation (torchrun + DDP); one on CPU.
PRIOR_NPROC = CFG.compute.gpus_per_train_job if CFG.compute.device != "cpu" else 1


rule train_prior:
    input:
        manifest=T.manifest("prior"),
        code=PRIOR_CODE,
    output:
        ckpt=T.prior_checkpoint("{variant}"),
        curve=f"{T.PRIOR_DIR}/{{variant}}/loss_curve.png",
        val=f"{T.PRIOR_DIR}/{{variant}}/val_grid.png",
    log:
        "models/prior/{variant}/train.log",
    wildcard_constraints:
        variant="all|few|one",
    threads: workflow.cores
    resources:
        gpus=PRIOR_NPROC,
    shell:
        "gasp train-prior --data {T.SYNTH}/prior --variant {wildcards.variant} --out {T.PRIOR_DIR}/{wildcards.variant} "
        "--nproc {PRIOR_NPROC} --threads {threads} --no-progress {CONFIG_ARGS} 2> {log}"


rule inspect_prior:
    input:
        ckpt=T.prior_checkpoint("{variant}"),
        code=["gasp/prior_inspect.py", "gasp/cli/prior.py"],
    output:
        probe="models/prior/{variant}/inspect/probe.json",
        pca_uv="models/prior/{variant}/inspect/features_pca_uv.png",
        pca_head="models/prior/{variant}/inspect/features_pca_head.png",
    wildcard_constraints:
        variant="all|few|one",
    shell:
        "gasp prior inspect {input.ckpt} --out {T.PRIOR_DIR}/{wildcards.variant}/inspect"
