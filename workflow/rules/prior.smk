# Prior training (issue 6): one job per variant (all / few / one subjects of the prior set), then
# `gasp prior inspect` (feature PCA figures + k-NN region probe).
# Processes per training job: one per GPU of the allocation (torchrun + DDP); one on CPU.
PRIOR_NPROC = CFG.compute.gpus_per_train_job if CFG.compute.device != "cpu" else 1


rule train_prior:
    input:
        manifest=T.manifest("prior"),
        code=P.code("train_prior"),
    output:
        ckpt=T.prior_checkpoint("{variant}"),
        curve=f"{T.PRIOR_DIR}/{{variant}}/loss_curve.png",
        val=f"{T.PRIOR_DIR}/{{variant}}/val_grid.png",
    log:
        "models/prior/{variant}/train.log",
    params:
        config=P.rule_params(CFG, "train_prior"),
    wildcard_constraints:
        variant="|".join(PRIOR_VARIANTS),
    threads: workflow.cores
    resources:
        gpus=PRIOR_NPROC,
    shell:
        "gasp train-prior --data {T.SYNTH}/prior --variant {wildcards.variant} --out {T.PRIOR_DIR}/{wildcards.variant} "
        "--nproc {PRIOR_NPROC} --threads {threads} --no-progress {CONFIG_ARGS} 2> {log}"


rule inspect_prior:
    input:
        ckpt=T.prior_checkpoint("{variant}"),
        code=P.code("inspect_prior"),
    output:
        probe="models/prior/{variant}/inspect/probe.json",
        pca_uv="models/prior/{variant}/inspect/features_pca_uv.png",
        pca_head="models/prior/{variant}/inspect/features_pca_head.png",
    params:
        config=P.rule_params(CFG, "inspect_prior"),
    wildcard_constraints:
        variant="|".join(PRIOR_VARIANTS),
    shell:
        "gasp prior inspect {input.ckpt} --out {T.PRIOR_DIR}/{wildcards.variant}/inspect"
