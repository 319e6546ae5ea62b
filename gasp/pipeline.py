"""The pipeline's one table of steps: for each Snakemake rule, the `gasp` command it runs (its entry
function), the params.yaml sections that command reads, and the DVC stage it belongs to.

Everything that decides a re-run comes from here:
- a rule's `params:` is `rule_params(cfg, rule)`: its sections as JSON (Snakemake re-runs the rule
  when they change);
- a rule's `input.code` is `code(rule)`: the import closure of its entry function over the project's
  own packages (gasp/, synth/), computed from the source, never listed by hand (a shell rule does
  not notice edits to what it calls, so the code is an input: Snakemake re-runs on a newer file);
- dvc.yaml (`gasp config dvc-yaml --write`; a test fails on drift) gives each stage the union of its
  rules' sections as `params` and of their code as `deps`, so `dvc repro` re-runs the stages whose
  rules Snakemake would re-run (tests/test_rerun.py checks both on a finished run).
The `gasp` command loads every command group's module by name only to register its arguments
(gasp/cli/__init__.py): a step depends on what its own command runs, not on the other groups.
"""
from __future__ import annotations

import ast
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from gasp import targets as T
from gasp.config import Config

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gasp", "synth")  # the project's own code; everything else is the environment's


@dataclass(frozen=True)
class Step:
    rule: str                  # the Snakemake rule
    entry: str                 # "module:function" the rule's `gasp` command runs (gasp/cli/*.py)
    params: tuple[str, ...]    # params.yaml sections that command reads
    rules_file: str            # workflow/rules/*.smk defining the rule


SYNTH_SMK, PRIOR_SMK = "workflow/rules/synth.smk", "workflow/rules/prior.smk"
FIT_SMK, EVAL_SMK = "workflow/rules/fit.smk", "workflow/rules/evaluate.smk"

# Less obvious readers: training reads synth (the seed, the views), eval (the background) and metrics
# (the LPIPS weights of its loss, as fitting does); the report's header summarises the synth, avatar,
# prior and fit sizes; `gasp prior inspect` reads no config (the checkpoint carries its own).
STEPS: tuple[Step, ...] = (
    Step("synth_subject", "gasp.cli.synth:_render", ("synth", "head"), SYNTH_SMK),
    Step("synth_manifest", "gasp.cli.synth:_manifest", ("synth",), SYNTH_SMK),
    Step("train_prior", "gasp.cli.prior:_train",
         ("prior", "avatar", "head", "eval", "synth", "metrics", "compute"), PRIOR_SMK),
    Step("inspect_prior", "gasp.cli.prior:_inspect", (), PRIOR_SMK),
    Step("fit", "gasp.cli.fit:_fit", ("fit", "avatar", "head", "eval", "metrics", "compute"), FIT_SMK),
    Step("evaluate", "gasp.cli.evaluate:_evaluate", ("eval", "metrics", "compute"), EVAL_SMK),
    Step("fit_figure", "gasp.cli.fit:_figure", ("synth", "eval", "compute"), FIT_SMK),
    Step("report", "gasp.cli.evaluate:_report", ("synth", "avatar", "prior", "fit", "metrics"), EVAL_SMK),
)
BY_RULE = {s.rule: s for s in STEPS}


@dataclass(frozen=True)
class Stage:
    name: str
    rules: tuple[str, ...]
    data: tuple[str, ...] = ()       # inputs: outputs of earlier stages
    outs: tuple[str, ...] = ()       # outputs (data/, models/, results/: cached)
    metrics: tuple[str, ...] = ()    # uncached metric files (JSON: DVC reads no CSV metrics)
    plots: tuple[str, ...] = ()      # uncached tables (CSV) and figures
    cache: bool = True               # False: outs are small reports kept in git, not in the DVC cache

    @property
    def target_rule(self) -> str:
        """The Snakemake target rule that requests all of this stage's outputs (stages.smk)."""
        return f"stage_{self.name}"

    @property
    def params(self) -> tuple[str, ...]:
        """The params sections its rules read."""
        return tuple(dict.fromkeys(p for r in self.rules for p in BY_RULE[r].params))

    @property
    def deps(self) -> tuple[str, ...]:
        """Its rules' code and rules files, and its input data."""
        files = {f for r in self.rules for f in (*code(r), BY_RULE[r].rules_file)}
        return (*sorted(files), *self.data)

    def targets(self, cfg: Config) -> list[str]:
        """The files the stage's target rule requests under this config."""
        return STAGE_TARGETS[self.name](cfg)


STAGES: tuple[Stage, ...] = (
    Stage("synth_prior", ("synth_subject", "synth_manifest"), outs=("data/synth/prior",)),
    Stage("synth_eval", ("synth_subject", "synth_manifest"), outs=("data/synth/eval",)),
    Stage("train_prior", ("train_prior", "inspect_prior"), ("data/synth/prior",), outs=("models/prior",)),
    Stage("fit_eval", ("fit", "evaluate"), ("data/synth/eval", "models/prior"), outs=("results",)),
    Stage("report", ("fit_figure", "report"), ("results", "models/prior", "data/synth/eval"),
          outs=(T.REPORT_MD, T.VERDICTS), metrics=(T.METRICS_JSON,), plots=(*T.table_paths(), T.FIGURES),
          cache=False),
)
BY_NAME = {s.name: s for s in STAGES}


def stages_of(rule: str) -> list[str]:
    """The DVC stages that run a rule."""
    return [s.name for s in STAGES if rule in s.rules]


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
    """The config sections a rule reads, as canonical JSON (its Snakemake `params:` value)."""
    full = cfg.to_dict()
    return json.dumps({k: full[k] for k in BY_RULE[rule].params}, sort_keys=True)


# ----------------------------------------------------------------------------------------------
# Code dependencies: the import closure of a step's entry function


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of a module of the project's packages (None: not ours, or no such module)."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for path in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.cache
def _tree(name: str, root: Path) -> ast.Module:
    path = module_file(name, root)
    return ast.parse(path.read_bytes(), filename=str(path))


def _imports(name: str, root: Path, nodes) -> set[str]:
    """The project modules that the Import/ImportFrom nodes anywhere under `nodes` (module `name`)
    load: `from a.b import c` loads a.b, and a.b.c when that is a module."""
    is_pkg = module_file(name, root).name == "__init__.py"
    out: set[str] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name.split(".")[:len(name.split(".")) - node.level + is_pkg]
                    base = ".".join([*pkg, *([base] if base else [])])
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if module_file(m, root)}


def _function_nodes(name: str, root: Path, function: str) -> list[ast.AST]:
    """What running `function` of module `name` executes: the module's top-level statements, the
    function and every top-level function or class it (transitively) refers to by name."""
    tree = _tree(name, root)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    if function not in defs:
        raise ValueError(f"{module_file(name, root)}: no function {function!r} (gasp/pipeline.py STEPS)")
    top = [n for n in tree.body if n not in defs.values()]
    todo = [function, *(n.id for t in top for n in ast.walk(t) if isinstance(n, ast.Name))]
    seen: set[str] = set()
    while todo:
        d = todo.pop()
        if d in defs and d not in seen:
            seen.add(d)
            todo += [n.id for n in ast.walk(defs[d]) if isinstance(n, ast.Name)]
    return [*top, *(defs[d] for d in sorted(seen))]


def _with_packages(name: str) -> list[str]:
    """A module and the packages above it (importing a.b.c runs a/__init__.py and a/b/__init__.py)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.cache
def import_closure(entry: str, root: Path = ROOT) -> tuple[str, ...]:
    """The source files (relative to the repository) that running `entry` ("module" or
    "module:function") may execute: every project module reachable through imports, wherever in a
    file they stand (top level or inside functions), with the packages above each."""
    name, _, function = entry.partition(":")
    if not module_file(name, root):
        raise ValueError(f"{entry}: no module {name!r} under {', '.join(PACKAGES)} (gasp/pipeline.py STEPS)")
    found = {name}
    todo = _with_packages(name)[:-1]
    nodes = _function_nodes(name, root, function) if function else [_tree(name, root)]
    todo += [p for m in _imports(name, root, nodes) for p in _with_packages(m)]
    while todo:
        m = todo.pop()
        if m not in found:
            found.add(m)
            todo += [p for i in _imports(m, root, [_tree(m, root)]) for p in _with_packages(i)]
    return tuple(sorted(module_file(m, root).relative_to(root).as_posix() for m in found))


def code(rule: str) -> tuple[str, ...]:
    """The source files a rule's command runs (its `input.code`)."""
    return import_closure(BY_RULE[rule].entry)


# ----------------------------------------------------------------------------------------------
# dvc.yaml


def dvc_yaml() -> str:
    """dvc.yaml: one stage per group, each running its Snakemake targets with only its own rules
    (outputs of earlier stages are inputs, never rebuilt by a later stage)."""
    stages = {}
    for s in STAGES:
        cmd = ("snakemake --cores all --rerun-triggers mtime --rerun-incomplete "
               f"--allowed-rules {' '.join((*s.rules, s.target_rule))} -- {s.target_rule}")
        d: dict = {"cmd": cmd, "deps": list(s.deps), "params": list(s.params)}
        if s.outs:
            d["outs"] = list(s.outs) if s.cache else [{p: {"cache": False}} for p in s.outs]
        if s.metrics:
            d["metrics"] = [{p: {"cache": False}} for p in s.metrics]
        if s.plots:
            d["plots"] = [{p: {"cache": False}} for p in s.plots]
        stages[s.name] = d
    head = ("# Generated by `gasp config dvc-yaml --write` from gasp/pipeline.py; do not edit by hand.\n"
            "# Each stage runs its own Snakemake rules; `dvc repro` re-runs a stage when its params\n"
            "# sections, code (the import closure of its rules' commands) or input data change.\n")
    return head + yaml.safe_dump({"stages": stages}, sort_keys=False, width=120)
