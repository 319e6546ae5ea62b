# GASP pipeline. Every rule calls the `gasp` CLI; no inline Python in rules.
# Config: params.yaml, overridden by `--configfile workflow/presets/<name>.yaml`, validated once here.
from snakemake.utils import validate
from gasp.config import config_from_snakemake

configfile: "params.yaml"
validate(config, "workflow/schemas/params.schema.json")
CFG = config_from_snakemake(config)

include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/fit.smk"
