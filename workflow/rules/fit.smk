# Fitting (issue 7): one job per (setting, method, eval subject) cell of T.fit_cells(CFG). Methods that
# fit through a prior depend on their variant's checkpoint (gasp/methods.py); the baselines need none.

def fit_prior(wildcards):
    variant = T.prior_of(wildcards.method)
    return [] if variant is None else [T.prior_checkpoint(variant)]


rule fit:
    input:
        subject=f"{T.SYNTH}/eval/{{subject}}/DONE",
        manifest=T.manifest("eval"),
        prior=fit_prior,
        code=P.code("fit"),
    output:
        avatar=f"{T.FITS}/{{setting}}/{{method}}/{{subject}}/avatar.npz",
        log=f"{T.FITS}/{{setting}}/{{method}}/{{subject}}/fit_log.csv",
        summary=f"{T.FITS}/{{setting}}/{{method}}/{{subject}}/fit.json",
    log:
        f"{T.FITS}/{{setting}}/{{method}}/{{subject}}/fit.log",
    wildcard_constraints:
        setting="|".join(FIT_SETTINGS),
        method="|".join(FIT_METHODS),
        subject="|".join(EVAL_SUBJECTS) or "none",
    params:
        prior=lambda w, input: f"--prior {input.prior[0]}" if input.prior else "",
        config=P.rule_params(CFG, "fit"),
    threads: 1
    resources:
        gpus=1 if CFG.compute.device == "cuda" else 0,
    shell:
        "gasp fit {T.SYNTH}/eval/{wildcards.subject} --setting {wildcards.setting} --method {wildcards.method} "
        "{params.prior} --out {T.FITS}/{wildcards.setting}/{wildcards.method}/{wildcards.subject} "
        "--threads {threads} {CONFIG_ARGS} > {log} 2>&1"


rule fit_figure:
    input:
        subject=f"{T.SYNTH}/eval/{{subject}}/DONE",
        avatars=lambda w: [f"{c.fit_dir}/avatar.npz" for c in FIT_CELLS
                           if c.setting == "monocular" and c.subject == w.subject],
        code=P.code("fit_figure"),
    output:
        f"{T.REPORTS}/figures/methods_{{subject}}.png",
    params:
        config=P.rule_params(CFG, "fit_figure"),
    wildcard_constraints:
        subject="|".join(EVAL_SUBJECTS) or "none",
    shell:
        "gasp fit-figure {T.SYNTH}/eval/{wildcards.subject} --fits {T.FITS} --setting monocular --out {output} "
        "{CONFIG_ARGS}"
