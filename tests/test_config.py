"""Config: params.yaml + presets merge, and validation errors name the key and the file."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from gasp.config import (PARAMS_FILE, PRESETS_DIR, SCHEMA_FILE, Config, ConfigError, json_schema_text,
                         load_config)


def test_default_params_load_and_are_typed():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.synth.resolution == yaml.safe_load(PARAMS_FILE.read_text())["synth"]["resolution"]
    assert isinstance(cfg.prior.lr_decoder, float)


def test_every_params_key_is_in_the_dataclasses_and_back():
    """params.yaml documents every knob: no dataclass field without a params.yaml entry."""
    data = yaml.safe_load(PARAMS_FILE.read_text())
    full = Config().to_dict()
    assert set(data) == set(full)
    for section, fields in full.items():
        assert set(data[section]) == set(fields), section


@pytest.mark.parametrize("preset", sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
def test_presets_validate(preset):
    load_config(preset=preset)


def test_presets_override_defaults():
    base, ci, paper = load_config(), load_config(preset="ci"), load_config(preset="paper")
    assert ci.synth.prior_subjects < base.synth.prior_subjects < paper.synth.prior_subjects
    assert paper.avatar.uv_resolution == 512 and paper.synth.resolution == 512
    assert paper.synth.prior_subjects == 1000 and paper.synth.prior_views == 50
    assert (paper.fit.stage1_steps, paper.fit.stage2_steps, paper.fit.stage3_steps) == (500, 500, 100)
    # keys a preset does not set keep the params.yaml value
    assert ci.prior.feature_dim == base.prior.feature_dim


def _write(tmp_path, text, name="params.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_misspelt_key_names_key_file_and_suggestion(tmp_path):
    params = PARAMS_FILE.read_text().replace("  prior_subjects:", "  prior_subjcts:", 1)
    p = _write(tmp_path, params)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "synth.prior_subjcts" in msg and "params.yaml" in msg and "prior_subjects" in msg


def test_error_names_the_preset_file_that_set_the_bad_value(tmp_path):
    extra = _write(tmp_path, "fit:\n  stage1_steps: -3\n", "override.yaml")
    with pytest.raises(ConfigError) as e:
        load_config(extra=[extra])
    assert "override.yaml" in str(e.value) and "fit.stage1_steps" in str(e.value)
    assert "minimum" in str(e.value)


@pytest.mark.parametrize("text, fragment", [
    ("synth:\n  resolution: big\n", "synth.resolution"),
    ("synth:\n  resolution: 8\n", "below its minimum"),
    ("avatar:\n  sh_degree: 7\n", "above its maximum"),
    ("avatar:\n  scale_mode: volume\n", "avatar.scale_mode"),
    ("prior:\n  variants: [all, many]\n", "prior.variants[1]"),
    ("eval:\n  ring: 1\n", "eval.ring"),
    ("prior:\n  lr_decoder: .nan\n", "NaN"),
    ("nonsense:\n  a: 1\n", "unknown key 'nonsense'"),
    ("synth: 3\n", "synth must be a mapping"),
    ("synth:\n  pitch_min_deg: 50\n  pitch_max_deg: 10\n", "pitch_min_deg"),
])
def test_bad_values_raise_one_clear_error(tmp_path, text, fragment):
    extra = _write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError, match=None) as e:
        load_config(extra=[extra])
    assert fragment in str(e.value)
    assert "bad.yaml" in str(e.value)


def test_invalid_yaml_names_the_file(tmp_path):
    p = _write(tmp_path, "synth: [unclosed\n", "broken.yaml")
    with pytest.raises(ConfigError, match="broken.yaml.*not valid YAML"):
        load_config(extra=[p])


def test_int_accepted_for_float_but_not_bool_for_int(tmp_path):
    ok = _write(tmp_path, "prior:\n  lr_decoder: 1\n", "ok.yaml")
    assert load_config(extra=[ok]).prior.lr_decoder == 1.0
    bad = _write(tmp_path, "synth:\n  resolution: true\n", "bad.yaml")
    with pytest.raises(ConfigError):
        load_config(extra=[bad])


def test_committed_json_schema_is_generated_from_dataclasses():
    assert SCHEMA_FILE.read_text() == json_schema_text(), "run `gasp config schema --write`"


def test_json_schema_agrees_with_the_dataclass_validation(tmp_path):
    """Snakemake validates with the JSON schema; it must reject what load_config rejects."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    good = load_config().to_dict()
    jsonschema.validate(good, schema)
    for section, key, value in [("synth", "prior_subjcts", 3), ("synth", "resolution", 8),
                                ("avatar", "scale_mode", "volume")]:
        bad = json.loads(json.dumps(good))
        bad[section][key] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_cli_config_show_presets_differ():
    def show(*extra):
        out = subprocess.run([sys.executable, "-m", "gasp", "config", "show", *extra],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)
    ci, paper = show("--preset", "ci"), show("--preset", "paper")
    assert ci != paper
    assert paper["avatar"]["uv_resolution"] == 512 and ci["synth"]["resolution"] == 64


def test_cli_config_error_exit_code(tmp_path):
    bad = _write(tmp_path, "synth:\n  prior_subjcts: 3\n", "bad.yaml")
    r = subprocess.run([sys.executable, "-m", "gasp", "config", "show", "--configfile", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "synth.prior_subjcts" in r.stderr and "bad.yaml" in r.stderr
    assert "Traceback" not in r.stderr
