"""Re-runs after a change are exactly what gasp/pipeline.py's table says, under both front doors.

On a copy of the session's finished ci run (tests/ci_run.py), each case changes one key of one
params.yaml section, or edits one module, and checks:
- Snakemake (`snakemake -n all`, default rerun triggers) plans exactly the jobs it plans when told to
  re-run the rules that read the section or run the module (`--forcerun <rules>` on the unchanged
  run: those rules' jobs and everything downstream of them), nothing more and nothing less;
- `dvc status` names exactly the stages of those rules;
- the two agree: each stage DVC re-runs has jobs in Snakemake's plan, and each job Snakemake plans
  lies in one of DVC's stages or downstream of them (DVC re-runs whole stages).
The expectations come from the table (P.STEPS params, P.code), never from a list kept here, so new
modules and steps are covered as they appear. Each case is undone before the next (bytes and mtime),
and the run must be up to date under both tools before and after.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from ci_run import copy_run, run
from gasp import pipeline as P

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

# One key per params.yaml section and a valid new value for it that leaves the set of jobs alone.
SECTION_EDITS = {
    "synth": ("eval_noise_std", lambda v: v + 0.01),
    "head": ("expression_components", lambda v: v + 1),
    "avatar": ("init_opacity", lambda v: v - 0.05),
    "prior": ("steps", lambda v: v + 10),
    "fit": ("w_prior", lambda v: v * 100),
    "eval": ("ring", lambda v: not v),
    "metrics": ("face_size", lambda v: v + 1),
    "report": ("turntable_frames", lambda v: v + 1),
    "compute": ("threads", lambda v: v + 1),
}


def _most_specific_module(rule: str) -> str:
    """The module of the rule's code that the fewest other rules run (ties: by name)."""
    return min(P.code(rule), key=lambda f: (sum(f in P.code(s.rule) for s in P.STEPS), f))


# One module of each step, and the two the issue measured (the metrics feed the losses of training
# and fitting; the orbit cameras, then in gasp/export.py, fed the prior inspection: now gasp/camera.py).
MODULES = sorted({*(_most_specific_module(s.rule) for s in P.STEPS), "gasp/metrics/ssim.py", "gasp/camera.py"})


def readers_of_section(section: str) -> set[str]:
    return {s.rule for s in P.STEPS if section in s.params}


def runners_of_module(path: str) -> set[str]:
    return {s.rule for s in P.STEPS if path in P.code(s.rule)}


def test_every_section_has_an_edit():
    assert set(SECTION_EDITS) == set(yaml.safe_load((ROOT / "params.yaml").read_text()))


def snakemake_plan(repo: Path, *args: str) -> dict[str, int]:
    """Jobs per rule that `snakemake -n all` plans (empty: nothing to be done)."""
    out = run([sys.executable, "-m", "snakemake", "all", "-n", "--cores", "1", "--quiet", "rules", *args], repo)
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.M)
            if m.group(1) != "total"}


def dvc_changed(repo: Path) -> set[str]:
    out = run([sys.executable, "-m", "dvc", "status", "--json"], repo)
    return set(json.JSONDecoder().raw_decode(out, out.index("{"))[0])


def downstream(stages: set[str]) -> set[str]:
    """The stages plus every stage that reads their outputs, transitively."""
    out, grew = set(stages), True
    while grew:
        more = {s.name for s in P.STAGES for u in out
                if set(P.BY_NAME[u].outs) & set(s.data)}
        grew = not more <= out
        out |= more
    return out


@pytest.fixture(scope="module")
def repo(ci_run, tmp_path_factory) -> Path:
    repo = copy_run(ci_run, tmp_path_factory.mktemp("rerun"))
    assert snakemake_plan(repo) == {}, "the finished run is not up to date under Snakemake"
    assert dvc_changed(repo) == set(), "the finished run is not up to date under DVC"
    return repo


@pytest.fixture(scope="module")
def forced_plan(repo):
    """Snakemake's plan when told to re-run these rules, on the unchanged run."""
    @functools.cache
    def plan(rules: frozenset[str]) -> dict[str, int]:
        return snakemake_plan(repo, "--forcerun", *sorted(rules)) if rules else {}
    return plan


class edited:
    """Change a file of the run, restore its bytes and mtime on exit."""

    def __init__(self, path: Path, change):
        self.path, self.change = path, change

    def __enter__(self):
        self.before, self.stat = self.path.read_bytes(), self.path.stat()
        self.path.write_bytes(self.change(self.before))

    def __exit__(self, *exc):
        self.path.write_bytes(self.before)
        os.utime(self.path, ns=(self.stat.st_atime_ns, self.stat.st_mtime_ns))


def check(repo: Path, expected_plan: dict[str, int], rules: set[str], what: str):
    """Run with the change in place; `expected_plan`: Snakemake's --forcerun plan of `rules`."""
    plan = snakemake_plan(repo)
    assert plan == expected_plan, f"{what}: Snakemake plans {plan}; forcing rules {sorted(rules)} plans {expected_plan}"
    want = {st for r in rules for st in P.stages_of(r)}
    got = dvc_changed(repo)
    assert got == want, f"{what}: dvc status names {sorted(got)}, the table says {sorted(want)}"
    # DVC re-runs whole stages: each of its stages has jobs in Snakemake's plan, and each planned job
    # lies in one of them or downstream (DVC then re-runs those when their input data changed)
    planned_stages = {st for r in plan if r != "all" for st in P.stages_of(r)}
    assert got <= planned_stages <= downstream(got), \
        f"{what}: Snakemake plans jobs of stages {sorted(planned_stages)}, DVC re-runs {sorted(got)}"


@pytest.mark.parametrize("section", sorted(SECTION_EDITS))
def test_params_change_reruns_exactly_its_readers(repo, forced_plan, section):
    key, new = SECTION_EDITS[section]

    def change(text: bytes) -> bytes:
        params = yaml.safe_load(text)
        params[section][key] = new(params[section][key])
        return yaml.safe_dump(params, sort_keys=False).encode()

    rules = readers_of_section(section)
    expected = forced_plan(frozenset(rules))
    with edited(repo / "params.yaml", change):
        check(repo, expected, rules, f"{section}.{key}")


@pytest.mark.parametrize("module", MODULES)
def test_module_edit_reruns_exactly_its_runners(repo, forced_plan, module):
    rules = runners_of_module(module)
    assert rules, f"{module} is run by no step"
    expected = forced_plan(frozenset(rules))
    with edited(repo / module, lambda text: text + b"\n# edited by tests/test_rerun.py\n"):
        check(repo, expected, rules, module)


def test_run_is_up_to_date_after_the_cases(repo):
    assert snakemake_plan(repo) == {} and dvc_changed(repo) == set()
