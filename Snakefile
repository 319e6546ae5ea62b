# GASP pipeline. Every rule calls the `gasp` CLI; no inline Python in rules.
# Config: params.yaml, overridden by `--configfile workflow/presets/<name>.yaml`, validated once here.
# Targets: `all` (every table and the report; the default), `reports/main_table.csv`, or one DVC
# stage's target rule `stage_<name>` (workflow/rules/stages.smk).
from snakemake.utils import validate
from gasp.config import config_from_snakemake

configfile: "params.yaml"
validate(config, "workflow/schemas/params.schema.json")
CFG = config_from_snakemake(config)

include: "workflow/rules/common.smk"


rule all:
    input:
        T.table_paths(),
        T.REPORT_MD,


include: "workflow/rules/synth.smk"
include: "workflow/rules/prior.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/stages.smk"
