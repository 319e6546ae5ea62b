# One target rule per DVC stage (gasp/pipeline.py): `snakemake stage_<name>` builds everything the
# stage owns under the current config; dvc.yaml's commands call these, so dvc.yaml never lists
# config-dependent file names.

rule stage_synth_prior:
    input: P.BY_NAME["synth_prior"].targets(CFG)

rule stage_synth_eval:
    input: P.BY_NAME["synth_eval"].targets(CFG)

rule stage_train_prior:
    input: P.BY_NAME["train_prior"].targets(CFG)

rule stage_fit_eval:
    input: P.BY_NAME["fit_eval"].targets(CFG)

rule stage_report:
    input: P.BY_NAME["report"].targets(CFG)
