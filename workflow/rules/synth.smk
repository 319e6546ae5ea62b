# Synthetic data (issue 5): one job per subject (`gasp synth render`, one Blender process each), then
# one manifest per domain. A subject's output is its DONE marker (written last, after every file of
# the folder); downstream rules depend on data/synth/<domain>/manifest.json.
from gasp.data import subject_id

SYNTH_SUBJECTS = {
    "prior": [subject_id("prior", i) for i in range(CFG.synth.prior_subjects)],
    "eval": [subject_id("eval", i) for i in range(CFG.synth.eval_subjects)],
}


rule synth_subject:
    input:
        code=P.code("synth_subject"),
    output:
        f"{T.SYNTH}/{{domain}}/{{subject}}/DONE",
    log:
        "logs/synth/{domain}/{subject}.log",
    params:
        config=P.rule_params(CFG, "synth_subject"),
    wildcard_constraints:
        domain="prior|eval",
        subject=r"[pe][0-9]+",
    threads: 1
    shell:
        "gasp synth render --domain {wildcards.domain} --subject {wildcards.subject} "
        "--out {T.SYNTH}/{wildcards.domain}/{wildcards.subject} --threads {threads} {CONFIG_ARGS} > {log} 2>&1"


rule synth_manifest:
    input:
        subjects=lambda wc: [f"{T.SYNTH}/{wc.domain}/{s}/DONE" for s in SYNTH_SUBJECTS[wc.domain]],
        code=P.code("synth_manifest"),
    output:
        T.manifest("{domain}"),
    params:
        config=P.rule_params(CFG, "synth_manifest"),
    wildcard_constraints:
        domain="prior|eval",
    shell:
        "gasp synth manifest --domain {wildcards.domain} --root {T.SYNTH} {CONFIG_ARGS}"
