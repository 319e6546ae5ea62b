"""dvc.yaml and the Snakefile agree: dvc.yaml is generated from gasp/pipeline.py, every Snakemake
rule belongs to exactly one stage, each stage's target rule needs only its own rules beyond the
stages it depends on, and each rule's outputs lie in its stage's outs."""
from __future__ import annotations

import functools
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


def test_every_rule_belongs_to_one_stage(all_rules):
    staged = {r for s in P.STAGES for r in s.rules}
    assert all_rules - TARGET_RULES == staged, (
        f"rules without a stage: {sorted(all_rules - TARGET_RULES - staged)}; "
        f"stage rules missing from the Snakefile: {sorted(staged - all_rules)}")
    assert TARGET_RULES <= all_rules


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


def test_rule_params_change_only_with_their_sections():
    base, ci = load_config(), load_config(preset="ci")
    assert P.rule_params(base, "fit") != P.rule_params(ci, "fit")
    # the report stage reads no synth/prior/fit keys: a change there leaves its params equal
    assert "prior" not in P.BY_NAME["report"].params
    assert P.rule_params(base, "report") == P.rule_params(
        load_config(extra=[_tmp_yaml("prior:\n  steps: 7\n")]), "report")


def _tmp_yaml(text: str) -> Path:
    import tempfile

    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return Path(f.name)


def test_slurm_profile_dry_run():
    out = snakemake("all", "--profile", "workflow/profiles/slurm", "-n", "--configfile", "workflow/presets/paper.yaml")
    assert "train_prior" in out and "fit" in out
