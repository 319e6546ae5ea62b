"""dvc.yaml and the Snakefile agree: dvc.yaml is generated from gasp/pipeline.py, every Snakemake
rule is a step of its table and belongs to a stage, takes its code and params from the table and runs
the step's entry command, each stage's target rule needs only its own rules beyond the stages it
depends on, and each rule's outputs lie in its stage's outs. The code dependencies are the import
closure of the entry command, imports inside functions included."""
from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gasp import pipeline as P
from gasp.config import load_config

ROOT = Path(__file__).resolve().parent.parent
TARGET_RULES = {s.target_rule for s in P.STAGES} | {"all"}


def snakemake(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def all_rules() -> set[str]:
    return set(snakemake("--list-rules").split())


@functools.cache
def dag_rules(target: str) -> frozenset[str]:
    """Rules of every job needed for `target` from scratch (dry run, --forceall)."""
    out = snakemake(target, "-n", "--forceall", "--cores", "1", "--quiet", "rules")
    return frozenset({m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", out, re.M)} - {"total"})


def test_committed_dvc_yaml_is_generated():
    assert (ROOT / "dvc.yaml").read_text() == P.dvc_yaml(), "run `gasp config dvc-yaml --write`"


def test_every_rule_belongs_to_one_step_and_a_stage(all_rules):
    staged = {r for s in P.STAGES for r in s.rules}
    assert all_rules - TARGET_RULES == staged, (
        f"rules without a stage: {sorted(all_rules - TARGET_RULES - staged)}; "
        f"stage rules missing from the Snakefile: {sorted(staged - all_rules)}")
    assert set(P.BY_RULE) == staged, "gasp/pipeline.py: STEPS and STAGES name different rules"
    assert TARGET_RULES <= all_rules


def _rule_block(step: P.Step) -> str:
    text = (ROOT / step.rules_file).read_text()
    m = re.search(rf"^rule {step.rule}:\n(.*?)(?=^rule |\Z)", text, re.M | re.S)
    assert m, f"{step.rules_file}: no rule {step.rule}"
    return m.group(1)


@pytest.mark.parametrize("step", P.STEPS, ids=lambda s: s.rule)
def test_rule_takes_code_and_params_from_the_table(step):
    block = _rule_block(step)
    assert f'code=P.code("{step.rule}")' in block, f"{step.rules_file}: rule {step.rule}: input.code"
    assert f'config=P.rule_params(CFG, "{step.rule}")' in block, f"{step.rules_file}: rule {step.rule}: params"
    assert json.loads(P.rule_params(load_config(), step.rule)).keys() == set(step.params)


@pytest.mark.parametrize("step", P.STEPS, ids=lambda s: s.rule)
def test_rule_runs_its_entry_command(step):
    """The rule's shell command is the `gasp` command whose function is the step's entry."""
    from gasp.cli import build_parser

    shell = re.search(r'shell:\s*\n\s*"gasp ([a-z-]+(?: [a-z]+)?)', _rule_block(step)).group(1).split()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices)  # argparse keeps subparsers here
    func = sub.choices[shell[0]]._defaults.get("func")
    if func is None:  # a command with actions (`gasp prior inspect`)
        inner = next(a for a in sub.choices[shell[0]]._actions if a.choices)
        func = inner.choices[shell[1]]._defaults["func"]
    module, _, name = step.entry.partition(":")
    assert (func.__module__, getattr(func, "__wrapped__", func).__name__) == (module, name)


def test_closure_sees_imports_anywhere_in_a_file(tmp_path):
    files = {
        "gasp/__init__.py": "",
        "gasp/cmd.py": "import os\nfrom gasp import util\n\n"
                       "def run():\n    from gasp.core import go\n    return helper(go)\n\n"
                       "def helper(x):\n    import gasp.pkg\n    return x\n\n"
                       "def other():\n    import gasp.unused\n",
        "gasp/util.py": "X = 1\n",
        "gasp/core.py": "class K:\n    def m(self):\n        from .deep import y\n\ndef go():\n    pass\n",
        "gasp/deep.py": "y = 1\n",
        "gasp/pkg/__init__.py": "from .inner import z\n",
        "gasp/pkg/inner.py": "import numpy\nz = 1\n",
        "gasp/unused.py": "",
        "synth/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    used = {"gasp/__init__.py", "gasp/cmd.py", "gasp/util.py", "gasp/core.py", "gasp/deep.py",
            "gasp/pkg/__init__.py", "gasp/pkg/inner.py"}
    assert set(P.import_closure("gasp.cmd:run", tmp_path)) == used
    assert set(P.import_closure("gasp.cmd", tmp_path)) == used | {"gasp/unused.py"}
    with pytest.raises(ValueError, match="no function 'nope'"):
        P.import_closure("gasp.cmd:nope", tmp_path)


def test_code_dependencies_include_what_the_issue_found_missing():
    # gasp/metrics feeds the training and fitting losses (imported inside a function of gasp/steps/losses.py);
    # the orbit cameras (gasp/camera.py, in gasp/export.py when the issue was found) feed the prior inspection
    for rule in ("train_prior", "fit"):
        assert "gasp/metrics/perceptual.py" in P.code(rule)
    assert "gasp/camera.py" in P.code("inspect_prior")
    assert "gasp/steps/report/build.py" not in P.code("evaluate")  # one command of a CLI module, not all


def _upstream(stage: P.Stage) -> list[P.Stage]:
    """Stages whose outputs this stage reads (its deps include their outs)."""
    return [s for s in P.STAGES if s is not stage and set(s.outs) & set(stage.deps)]


@pytest.mark.parametrize("stage", P.STAGES, ids=lambda s: s.name)
def test_stage_dag_uses_only_its_rules(stage):
    own = set(dag_rules(stage.target_rule))
    for up in _upstream(stage):
        own -= dag_rules(up.target_rule)
    assert own - {stage.target_rule} <= set(stage.rules), (
        f"{stage.name}: runs rules outside the stage: {sorted(own - set(stage.rules) - {stage.target_rule})}")


@pytest.mark.parametrize("stage", P.STAGES, ids=lambda s: s.name)
def test_stage_targets_lie_in_its_outputs(stage):
    owned = [*stage.outs, *stage.metrics, *stage.plots]
    for cfg in (load_config(), load_config(preset="ci")):
        for target in stage.targets(cfg):
            assert any(target == o or target.startswith(o.rstrip("/") + "/") for o in owned), \
                f"{stage.name}: {target} not under {owned}"


def test_dvc_stage_params_exist_in_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for stage in P.STAGES:
        for section in stage.params:
            assert section in params, f"{stage.name}: params section {section!r} not in params.yaml"


def test_step_params_exist_in_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for step in P.STEPS:
        assert set(step.params) <= set(params), f"{step.rule}: params {step.params}"


def test_slurm_profile_dry_run():
    out = snakemake("all", "--profile", "workflow/profiles/slurm", "-n", "--configfile", "workflow/presets/paper.yaml")
    assert "train_prior" in out and "fit" in out
