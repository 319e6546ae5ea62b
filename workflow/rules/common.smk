# Shared helpers of the rules: target lists come from gasp/targets.py (one source of paths, also
# used by the dvc.yaml consistency test), evaluated on the typed config CFG (see Snakefile).
from gasp import targets as T

EVAL_SUBJECTS = T.eval_subjects(CFG)
PRIOR_SUBJECTS = T.prior_subjects(CFG)
FIT_CELLS = T.fit_cells(CFG)
PRIOR_VARIANTS = T.prior_variants_needed(CFG)
FIT_SETTINGS = sorted({c.setting for c in FIT_CELLS}) or ["none"]
FIT_METHODS = sorted({c.method for c in FIT_CELLS}) or ["none"]
# The CLI reads the same config as Snakemake: params.yaml plus every --configfile given to snakemake.
CONFIG_ARGS = " ".join(f"--configfile {f}" for f in workflow.overwrite_configfiles)
