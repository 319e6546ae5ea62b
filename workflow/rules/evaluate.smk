# Evaluation (issue 8): one job per fitted avatar (setting, method, eval subject), then the report
# aggregating every cell into reports/*.csv, reports/report.md and figures.
# Figures made by other stages that the report shows (caption -> file).
REPORT_FIGURES = {
    "Qualitative comparison (input frame; each method front / side / back)":
        f"{T.REPORTS}/figures/methods_{EVAL_SUBJECTS[0]}.png",
    "Prior training curves": f"{T.PRIOR_DIR}/all/loss_curve.png",
    "Prior reconstructions of training subjects from held-out views": f"{T.PRIOR_DIR}/all/val_grid.png",
    "Learned per-Gaussian features, PCA as RGB on the UV map": f"{T.PRIOR_DIR}/all/inspect/features_pca_uv.png",
    "Learned per-Gaussian features, PCA as RGB on the head": f"{T.PRIOR_DIR}/all/inspect/features_pca_head.png",
}


rule evaluate:
    input:
        subject=f"{T.SYNTH}/eval/{{subject}}/DONE",
        avatar=f"{T.FITS}/{{setting}}/{{method}}/{{subject}}/avatar.npz",
        code=P.code("evaluate"),
    output:
        images=f"{T.METRICS}/{{setting}}/{{method}}/{{subject}}/images.csv",
        features=f"{T.METRICS}/{{setting}}/{{method}}/{{subject}}/features.npz",
        summary=f"{T.METRICS}/{{setting}}/{{method}}/{{subject}}/summary.json",
    log:
        f"{T.METRICS}/{{setting}}/{{method}}/{{subject}}/evaluate.log",
    params:
        config=P.rule_params(CFG, "evaluate"),
    wildcard_constraints:
        setting="|".join(FIT_SETTINGS),
        method="|".join(FIT_METHODS),
        subject="|".join(EVAL_SUBJECTS) or "none",
    threads: 1
    shell:
        "gasp evaluate {T.SYNTH}/eval/{wildcards.subject} --avatar {input.avatar} --setting {wildcards.setting} "
        "--method {wildcards.method} --out {T.METRICS}/{wildcards.setting}/{wildcards.method}/{wildcards.subject} "
        "--threads {threads} {CONFIG_ARGS} > {log} 2>&1"


rule report:
    input:
        metrics=[f"{c.metrics_dir}/{f}" for c in FIT_CELLS for f in ("images.csv", "features.npz", "summary.json")],
        fits=[f"{c.fit_dir}/fit.json" for c in FIT_CELLS],
        figures=list(REPORT_FIGURES.values()),
        inspect=expand(f"{T.PRIOR_DIR}/{{variant}}/inspect/probe.json", variant=PRIOR_VARIANTS),
        code=P.code("report"),
    output:
        tables=T.table_paths(),
        report=T.REPORT_MD,
        verdicts=T.VERDICTS,
        metrics=T.METRICS_JSON,
    params:
        figures=" ".join(f"--figure '{caption}={path}'" for caption, path in REPORT_FIGURES.items()),
        config=P.rule_params(CFG, "report"),
    shell:
        "gasp report --metrics {T.METRICS} --fits {T.FITS} --out {T.REPORTS} {params.figures} {CONFIG_ARGS}"
