"""The registry of methods and settings (gasp/methods.py) is the one place they are defined: config
validation, the pipeline's targets, the CLI's choices, fitting, evaluation and the report's tables
all follow it, so a method added there alone is fitted, evaluated and reported."""
from __future__ import annotations

import dataclasses
import json
import typing

import pandas as pd
import pytest

from gasp import targets as T
from gasp.config import ConfigError, FitConfig, json_schema, load_config
from gasp.methods import FIT_STAGES, METHODS, PRIOR_VARIANTS, REPORT_TABLES, SETTINGS, Method, table_methods
from test_fit import build_subject, random_prior


@pytest.mark.parametrize("name", list(METHODS))
def test_method_entries_are_consistent(name):
    m = METHODS[name]
    assert m.prior is None or m.prior in PRIOR_VARIANTS
    assert m.stages and list(m.stages) == [s for s in FIT_STAGES if s in m.stages], "stages: a subset, in order"
    assert m.stages[-1] == "refine", "gasp/steps/fit.py bakes the avatar in the refine stage"
    assert m.from_prior or m.stages == ("refine",), "without a prior only 'refine' applies"
    assert set(m.tables) <= set(REPORT_TABLES)
    assert "prior_size" not in m.tables or m.from_prior


def test_settings_name_their_config_lists():
    hints = typing.get_type_hints(FitConfig)
    for name, s in SETTINGS.items():
        assert hints[s.methods_key] == list[str], f"{name}: fit.{s.methods_key}"
        assert "frames" in s.eval_views


def test_config_schema_and_cli_choices_follow_the_registry():
    from gasp.cli import build_parser

    fit = json_schema()["properties"]["fit"]["properties"]
    assert fit["methods"]["items"]["enum"] == list(METHODS)
    assert fit["settings"]["items"]["enum"] == list(SETTINGS)
    sub = next(a for a in build_parser()._actions if a.choices)
    for command in ("fit", "evaluate"):
        opts = {o: a for a in sub.choices[command]._actions for o in a.option_strings}
        assert list(opts["--method"].choices) == list(METHODS) and list(opts["--setting"].choices) == list(SETTINGS)
    # every list of methods in the config belongs to a setting
    assert {f.name for f in dataclasses.fields(FitConfig) if f.name.endswith("methods")} == \
        {s.methods_key for s in SETTINGS.values()}


def test_report_tables_in_registry_order():
    assert table_methods("main") == ["gasp", "no_prior", "flashavatar_style"]
    assert [METHODS[m].prior for m in table_methods("prior_size")] == ["one", "few", "all"]


def test_new_method_through_the_registry_alone(tmp_path, monkeypatch, capsys):
    from gasp.cli import main

    name = "prior_refine_only"  # the prior's mean avatar, refined directly (no inversion, no decoder tuning)
    extra = tmp_path / "methods.yaml"
    extra.write_text(f"fit:\n  settings: [monocular]\n  methods: [gasp, {name}]\n")
    with pytest.raises(ConfigError, match=f"fit.methods\\[1\\] = '{name}' is not one of"):
        load_config(preset="ci", extra=[extra])

    monkeypatch.setitem(METHODS, name, Method("all", ("refine",), tables=("ablation",)))
    cfg = load_config(preset="ci", extra=[extra])
    cells = T.fit_cells(cfg)
    assert {c.method for c in cells} == {"gasp", name} and "all" in T.prior_variants_needed(cfg)

    subject_dir = build_subject(tmp_path / "data", cfg)
    prior = tmp_path / "prior.pt"
    random_prior(cfg).save(prior, meta={"variant": "all"})
    config_args = ["--preset", "ci", "--configfile", str(extra)]
    for c in cells:
        fits, metrics = tmp_path / c.fit_dir, tmp_path / c.metrics_dir
        assert main(["fit", str(subject_dir), "--setting", c.setting, "--method", c.method, "--prior", str(prior),
                     "--out", str(fits), "--threads", "1", *config_args]) == 0
        assert main(["evaluate", str(subject_dir), "--avatar", str(fits / "avatar.npz"), "--setting", c.setting,
                     "--method", c.method, "--out", str(metrics), "--threads", "1", *config_args]) == 0
    fitted = json.loads((tmp_path / T.FITS / "monocular" / name / "e0000" / "fit.json").read_text())
    assert [s["name"] for s in fitted["stages"]] == ["refine"] and fitted["prior"] == str(prior)
    assert main(["report", "--metrics", str(tmp_path / T.METRICS), "--fits", str(tmp_path / T.FITS),
                 "--out", str(tmp_path / "reports"), *config_args]) == 0
    capsys.readouterr()
    ablation = pd.read_csv(tmp_path / "reports" / "ablation_table.csv")
    assert list(ablation[ablation.views == "frames"].method) == ["gasp", name]
    assert name not in set(pd.read_csv(tmp_path / "reports" / "main_table.csv").method)
    assert name in set(pd.read_csv(tmp_path / "reports" / "speed_table.csv").method)
    assert name in json.loads((tmp_path / "reports" / "metrics.json").read_text())["monocular"]
