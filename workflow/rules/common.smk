# Shared helpers of the rules: target lists come from gasp/targets.py (one source of paths, also
# used by the dvc.yaml consistency test), evaluated on the typed config CFG (see Snakefile). Every
# rule takes `input.code` (P.code: the import closure of its command) and `params.config`
# (P.rule_params: the params sections it reads) from gasp/pipeline.py, the table dvc.yaml is made from.
from gasp import pipeline as P
from gasp import targets as T
from gasp.methods import PRIOR_VARIANTS

EVAL_SUBJECTS = T.eval_subjects(CFG)
PRIOR_SUBJECTS = T.prior_subjects(CFG)
FIT_CELLS = T.fit_cells(CFG)
PRIOR_VARIANTS = T.prior_variants_needed(CFG)
FIT_SETTINGS = sorted({c.setting for c in FIT_CELLS}) or ["none"]
FIT_METHODS = sorted({c.method for c in FIT_CELLS}) or ["none"]
# The CLI reads the same config as Snakemake: params.yaml plus every --configfile given to snakemake.
CONFIG_ARGS = " ".join(f"--configfile {f}" for f in workflow.overwrite_configfiles)
