"""The pipeline's DVC stages: which Snakemake rules each runs, the config sections it reads, the
code and data it depends on and the outputs it owns. One source for dvc.yaml (`gasp dvc-yaml
--write` renders it; a test fails on drift) and for the rules' `params:` (each rule hashes exactly
its stage's config sections, so Snakemake and DVC re-run the same work after a params change).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from gasp import targets as T
from gasp.config import Config


@dataclass(frozen=True)
class Stage:
    name: str
    rules: tuple[str, ...]
    params: tuple[str, ...]          # params.yaml sections the stage's commands read
    deps: tuple[str, ...]            # code and data (outputs of earlier stages)
    outs: tuple[str, ...] = ()       # outputs (data/, models/, results/: cached)
    metrics: tuple[str, ...] = ()    # uncached metric files (JSON: DVC reads no CSV metrics)
    plots: tuple[str, ...] = ()      # uncached tables (CSV) and figures
    cache: bool = True               # False: outs are small reports kept in git, not in the DVC cache

    @property
    def target_rule(self) -> str:
        """The Snakemake target rule that requests all of this stage's outputs (stages.smk)."""
        return f"stage_{self.name}"

    def targets(self, cfg: Config) -> list[str]:
        """The files the stage's target rule requests under this config."""
        return STAGE_TARGETS[self.name](cfg)


HEAD_CODE = ("gasp/head",)
RENDER_CODE = ("gasp/render", "gasp/avatar.py", "gasp/data.py", "gasp/losses.py")

STAGES: tuple[Stage, ...] = (
    Stage("synth_prior", ("synth_subject", "synth_manifest"), ("synth", "head"),
          ("synth", "gasp/data.py", "gasp/cli/synth.py", "workflow/rules/synth.smk", *HEAD_CODE),
          outs=("data/synth/prior",)),
    Stage("synth_eval", ("synth_subject", "synth_manifest"), ("synth", "head"),
          ("synth", "gasp/data.py", "gasp/cli/synth.py", "workflow/rules/synth.smk", *HEAD_CODE),
          outs=("data/synth/eval",)),
    # synth: the seed; metrics: which LPIPS weights the training loss uses
    Stage("train_prior", ("train_prior", "inspect_prior"),
          ("prior", "avatar", "head", "eval", "synth", "metrics", "compute"),
          ("gasp/prior.py", "gasp/train_prior.py", "gasp/prior_inspect.py", "gasp/cli/prior.py",
           "workflow/rules/prior.smk", *RENDER_CODE, *HEAD_CODE, "data/synth/prior"),
          outs=("models/prior",)),
    Stage("fit_eval", ("fit", "evaluate"), ("fit", "avatar", "head", "eval", "metrics", "compute"),
          ("gasp/fit.py", "gasp/avatar_package.py", "gasp/prior.py", "gasp/evaluate.py", "gasp/metrics",
           "gasp/cli/fit.py", "gasp/cli/evaluate.py", "workflow/rules/fit.smk", "workflow/rules/evaluate.smk",
           *RENDER_CODE, *HEAD_CODE, "data/synth/eval", "models/prior"),
          outs=("results",)),
    Stage("report", ("fit_figure", "report"), ("report", "eval"),
          ("gasp/report", "gasp/export.py", "gasp/cli/evaluate.py", "workflow/rules/evaluate.smk",
           "results", "models/prior", "data/synth/eval"),
          outs=(T.REPORT_MD, T.VERDICTS), metrics=(T.METRICS_JSON,), plots=(*T.table_paths(), T.FIGURES),
          cache=False),
)
BY_NAME = {s.name: s for s in STAGES}
RULE_STAGE = {}
for _s in STAGES:
    for _r in _s.rules:
        RULE_STAGE.setdefault(_r, _s.name)


def _all_fit_outputs(cfg: Config) -> list[str]:
    return [f"{c.metrics_dir}/{f}" for c in T.fit_cells(cfg) for f in ("images.csv", "features.npz", "summary.json")]


STAGE_TARGETS = {
    "synth_prior": lambda cfg: [T.manifest("prior")],
    "synth_eval": lambda cfg: [T.manifest("eval")],
    "train_prior": lambda cfg: [p for v in T.prior_variants_needed(cfg)
                                for p in (T.prior_checkpoint(v), f"{T.PRIOR_DIR}/{v}/inspect/probe.json")],
    "fit_eval": _all_fit_outputs,
    "report": lambda cfg: [*T.table_paths(), T.REPORT_MD, T.VERDICTS, T.METRICS_JSON],
}


def rule_params(cfg: Config, rule: str) -> str:
    """The config sections a rule's stage reads, as canonical JSON (a Snakemake `params:` value:
    Snakemake re-runs the rule when it changes, as DVC re-runs the stage)."""
    stage = BY_NAME[RULE_STAGE[rule]]
    full = cfg.to_dict()
    return json.dumps({k: full[k] for k in stage.params}, sort_keys=True)


def dvc_yaml() -> str:
    """dvc.yaml: one stage per group, each running its Snakemake targets with only its own rules
    (outputs of earlier stages are inputs, never rebuilt by a later stage)."""
    stages = {}
    for s in STAGES:
        cmd = ("snakemake --cores all --rerun-triggers mtime --rerun-incomplete "
               f"--allowed-rules {' '.join((*s.rules, s.target_rule))} -- {s.target_rule}")
        d: dict = {"cmd": cmd, "deps": sorted(s.deps), "params": list(s.params)}
        if s.outs:
            d["outs"] = list(s.outs) if s.cache else [{p: {"cache": False}} for p in s.outs]
        if s.metrics:
            d["metrics"] = [{p: {"cache": False}} for p in s.metrics]
        if s.plots:
            d["plots"] = [{p: {"cache": False}} for p in s.plots]
        stages[s.name] = d
    head = ("# Generated by `gasp config dvc-yaml --write` from gasp/pipeline.py; do not edit by hand.\n"
            "# Each stage runs its own Snakemake rules; `dvc repro` re-runs a stage when its params\n"
            "# sections, code or input data change.\n")
    return head + yaml.safe_dump({"stages": stages}, sort_keys=False, width=120)
