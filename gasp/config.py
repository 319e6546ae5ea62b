"""Typed pipeline configuration: params.yaml + presets, validated once at the boundary.

The dataclasses below are the schema. `load_config` merges params.yaml with an optional preset,
remembers which file set each key, and turns the result into frozen dataclasses; any unknown key,
wrong type or out-of-range value raises one `ConfigError` naming the key and the file.
`json_schema()` renders the same schema as JSON Schema for Snakemake's `validate`
(workflow/schemas/params.schema.json is generated from it; a test checks they agree).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gasp.methods import METHODS, SETTINGS, method_names, setting_names

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = ROOT / "params.yaml"
PRESETS_DIR = ROOT / "workflow" / "presets"
SCHEMA_FILE = ROOT / "workflow" / "schemas" / "params.schema.json"


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and the file that set it."""


def _f(default, lo=None, hi=None, help="", choices=None):
    """A config field with an inclusive range [lo, hi], a one-line help and, for names, `choices()`
    returning the allowed values (read at validation time: the registries of gasp/methods.py)."""
    meta = {"min": lo, "max": hi, "help": help, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SynthConfig:
    seed: int = _f(0, 0)
    prior_subjects: int = _f(24, 1)
    prior_views: int = _f(24, 1)
    eval_subjects: int = _f(3, 1)
    resolution: int = _f(128, 16, 4096)
    samples: int = _f(16, 1, 4096)
    camera_distance: float = _f(0.65, 0.2, 10.0)
    focal_mm: float = _f(50.0, 5.0, 500.0)
    pitch_min_deg: float = _f(-30.0, -89.0, 89.0)
    pitch_max_deg: float = _f(45.0, -89.0, 89.0)
    video_frames: int = _f(24, 2)
    video_yaw_deg: float = _f(40.0, 0.0, 90.0)
    video_test_every: int = _f(4, 2)
    ring_views: int = _f(12, 1)
    rig_cameras: int = _f(16, 2)
    rig_test_cameras: int = _f(2, 1)
    identity_truncation: float = _f(2.0, 0.5, 10.0, help="identity coefficients are redrawn beyond this many std")
    expression_scale: float = _f(1.0, 0.0, 5.0)
    eval_noise_std: float = _f(0.02, 0.0, 0.5)
    eval_jpeg_quality: int = _f(85, 1, 100)
    eval_color_cast: float = _f(0.08, 0.0, 0.5)
    eval_light_tint: float = _f(0.25, 0.0, 1.0)
    texture_resolution: int = _f(256, 32, 8192, help="procedural albedo/hair texture size (texels)")
    render_threads: int = _f(0, 0, 1024, help="Cycles CPU threads per render process (0 = all cores)")


@dataclass(frozen=True)
class HeadConfig:
    identity_components: int = _f(60, 50, 400)
    expression_components: int = _f(12, 10, 100)
    mesh_detail: int = _f(2, 0, 4)
    model_file: str = _f("")


@dataclass(frozen=True)
class AvatarConfig:
    uv_resolution: int = _f(128, 16, 2048)
    sh_degree: int = _f(0, 0, 3)
    scale_mode: Literal["edge", "area"] = _f("edge")
    init_log_scale: float = _f(-0.5, -10.0, 5.0)
    init_opacity: float = _f(0.9, 0.01, 0.99)


@dataclass(frozen=True)
class PriorConfig:
    variants: list[Literal["all", "few", "one"]] = _f(["all", "few", "one"])
    few_subjects: int = _f(4, 2)
    feature_dim: int = _f(8, 1, 256)
    latent_dim: int = _f(512, 1, 4096)
    hidden_dim: int = _f(128, 8, 4096)
    hidden_layers: int = _f(3, 1, 16)
    steps: int = _f(1000, 1)
    steps_few: int = _f(300, 1, help="optimisation steps of the 'few' variant")
    steps_one: int = _f(200, 1, help="optimisation steps of the 'one' variant")
    batch_size: int = _f(4, 1)
    val_views: int = _f(2, 0, help="views per training subject held out of training, for validation")
    val_subjects: int = _f(4, 1, help="subjects in the validation image grid")
    lr_decoder: float = _f(5e-3, 0.0, 1.0)
    lr_latent: float = _f(2e-2, 0.0, 1.0)
    lr_features: float = _f(2e-2, 0.0, 1.0)
    lr_template: float = _f(5e-2, 0.0, 1.0)
    lr_decay: float = _f(0.1, 0.0, 1.0, help="learning rates fall exponentially to this fraction by the last step")
    checkpoint_every: int = _f(250, 1)
    log_every: int = _f(10, 1)
    w_l1: float = _f(0.8, 0.0)
    w_ssim: float = _f(0.2, 0.0)
    w_alpha: float = _f(0.5, 0.0)
    w_lpips: float = _f(0.1, 0.0)
    w_scale: float = _f(0.01, 0.0)
    w_disp: float = _f(0.1, 0.0)
    scalp_disp_factor: float = _f(0.01, 0.0, 1.0)
    w_latent: float = _f(1e-4, 0.0)


@dataclass(frozen=True)
class FitConfig:
    # method and setting names: the registries of gasp/methods.py
    subjects: int | Literal["all"] = _f("all")
    settings: list[str] = _f(list(SETTINGS), choices=setting_names)
    methods: list[str] = _f(list(METHODS), choices=method_names)
    multiview_methods: list[str] = _f(["gasp", "no_prior"], choices=method_names)
    single_methods: list[str] = _f(["gasp", "no_prior", "flashavatar_style"], choices=method_names)
    stage1_steps: int = _f(60, 0)
    stage2_steps: int = _f(60, 0)
    stage3_steps: int = _f(30, 0)
    direct_steps: int = _f(150, 1)
    batch_size: int = _f(2, 1)
    lr_latent: float = _f(0.01, 0.0, 1.0)
    lr_decoder: float = _f(5e-4, 0.0, 1.0)
    lr_gaussians: float = _f(5e-3, 0.0, 1.0)
    w_prior: float = _f(0.005, 0.0)
    w_l1: float = _f(0.8, 0.0)
    w_ssim: float = _f(0.2, 0.0)
    w_alpha: float = _f(0.5, 0.0)
    w_lpips: float = _f(0.1, 0.0)


@dataclass(frozen=True)
class EvalConfig:
    background: Literal["white", "black"] = _f("white")
    ring: bool = _f(True)


@dataclass(frozen=True)
class MetricsConfig:
    weights_dir: str = _f("models/weights")
    lpips_net: Literal["alex", "vgg"] = _f("alex")
    fid_min_images: int = _f(2, 2)
    face_size: int = _f(320, 64, 2048, help="images are resized to this many pixels (shorter side) before dlib face detection")


@dataclass(frozen=True)
class ReportConfig:
    figures: bool = _f(True)
    turntable_frames: int = _f(24, 2)


@dataclass(frozen=True)
class ComputeConfig:
    device: Literal["auto", "cpu", "cuda"] = _f("auto")
    threads: int = _f(0, 0, 1024)
    gpus_per_train_job: int = _f(1, 1, 64)


@dataclass(frozen=True)
class Config:
    synth: SynthConfig = field(default_factory=SynthConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    avatar: AvatarConfig = field(default_factory=AvatarConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------
# Loading and validation


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping; a syntax error or a non-mapping is a ConfigError naming the file."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(known)}")
    return path


def merge_sources(sources: list[tuple[dict, str]]) -> tuple[dict, dict[str, str]]:
    """Deep-merge mappings in order; return the merged dict and, per dotted key, the file that set it."""
    merged: dict = {}
    origin: dict[str, str] = {}

    def rec(dst: dict, src: dict, prefix: str, name: str):
        for k, v in src.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                rec(dst[k], v, key + ".", name)
            else:
                dst[k] = json.loads(json.dumps(v)) if isinstance(v, (dict, list)) else v
                origin[key] = name
                if isinstance(v, dict):
                    for sub in _dotted_keys(v, key + "."):
                        origin[sub] = name

    for data, name in sources:
        rec(merged, data, "", name)
    return merged, origin


def _dotted_keys(d: dict, prefix: str):
    for k, v in d.items():
        yield prefix + str(k)
        if isinstance(v, dict):
            yield from _dotted_keys(v, f"{prefix}{k}.")


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _check_value(value, tp, key: str, where: str, meta: dict):
    """Return `value` converted to `tp` or raise ConfigError naming `key` and `where`."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where}: {key} = {value!r} is not a valid {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arm in typing.get_args(tp):
            try:
                return _check_value(value, arm, key, where, meta)
            except ConfigError:
                pass
        raise bad
    if origin is list:
        if not isinstance(value, list):
            raise bad
        (item_tp,) = typing.get_args(tp)
        return [_check_value(v, item_tp, f"{key}[{i}]", where, meta) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if value != value:  # NaN
            raise ConfigError(f"{where}: {key} is NaN")
    elif tp is str:
        if not isinstance(value, str):
            raise bad
        if meta.get("choices") and value not in meta["choices"]():
            raise ConfigError(f"{where}: {key} = {value!r} is not one of {', '.join(meta['choices']())}")
        return value
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"{where}: {key} = {value!r} is below its minimum {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: {key} = {value!r} is above its maximum {hi}")
    return value


def build_config(data: dict, origin: dict[str, str] | None = None, default_source: str = "config") -> Config:
    """Validate a merged dict against the dataclasses and return the typed Config."""
    origin = origin or {}

    def where(key: str) -> str:
        return origin.get(key, default_source)

    def build(cls, values: dict, prefix: str):
        if not isinstance(values, dict):
            raise ConfigError(f"{where(prefix.rstrip('.'))}: {prefix.rstrip('.')} must be a mapping")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for k in values:
            if k not in fields:
                key = f"{prefix}{k}"
                close = difflib.get_close_matches(str(k), list(fields), n=1)
                hint = f" (did you mean {prefix}{close[0]!r}?)" if close else ""
                raise ConfigError(f"{where(key)}: unknown key {key!r}{hint}")
        kwargs = {}
        for name, f in fields.items():
            if name not in values:
                continue
            key = f"{prefix}{name}"
            tp = hints[name]
            if dataclasses.is_dataclass(tp):
                kwargs[name] = build(tp, values[name], key + ".")
            else:
                kwargs[name] = _check_value(values[name], tp, key, where(key), dict(f.metadata))
        return cls(**kwargs)

    cfg = build(Config, data, "")
    _check_cross_field(cfg, where)
    return cfg


def _check_cross_field(cfg: Config, where):
    s = cfg.synth
    if s.pitch_min_deg > s.pitch_max_deg:
        raise ConfigError(f"{where('synth.pitch_min_deg')}: synth.pitch_min_deg ({s.pitch_min_deg}) "
                          f"is above synth.pitch_max_deg ({s.pitch_max_deg})")
    if s.rig_test_cameras >= s.rig_cameras:
        raise ConfigError(f"{where('synth.rig_test_cameras')}: synth.rig_test_cameras must be below "
                          f"synth.rig_cameras ({s.rig_cameras})")
    if cfg.prior.val_views >= s.prior_views:
        raise ConfigError(f"{where('prior.val_views')}: prior.val_views ({cfg.prior.val_views}) must be below "
                          f"synth.prior_views ({s.prior_views}): some views must remain for training")
    if cfg.prior.few_subjects > s.prior_subjects and "few" in cfg.prior.variants:
        raise ConfigError(f"{where('prior.few_subjects')}: prior.few_subjects ({cfg.prior.few_subjects}) "
                          f"exceeds synth.prior_subjects ({s.prior_subjects})")


def load_config(params: Path | str = PARAMS_FILE, preset: str | None = None,
                extra: list[Path | str] | None = None) -> Config:
    """params.yaml, then the named preset, then extra YAML files, each overriding the one before."""
    paths = [Path(params)]
    if preset:
        paths.append(preset_path(preset))
    paths += [Path(p) for p in extra or []]
    sources = [(read_yaml(p), _display(p)) for p in paths]
    merged, origin = merge_sources(sources)
    return build_config(merged, origin)


def config_from_snakemake(config: dict) -> Config:
    """Typed config from Snakemake's already-merged `config` dict (which knows no key origins)."""
    return build_config(config, default_source="snakemake config (params.yaml + --configfile)")


def _display(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


# ----------------------------------------------------------------------------------------------
# JSON Schema (for Snakemake's validate and editors), generated from the dataclasses


def _schema_of(tp, meta: dict) -> dict:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        props = {f.name: _schema_of(hints[f.name], dict(f.metadata)) for f in dataclasses.fields(tp)}
        return {"type": "object", "additionalProperties": False, "properties": props}
    out: dict[str, Any] = {}
    if meta.get("help"):
        out["description"] = meta["help"]
    if origin is Literal:
        out["enum"] = list(typing.get_args(tp))
    elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        out["anyOf"] = [_schema_of(a, meta) for a in typing.get_args(tp)]
    elif origin is list:
        out.update(type="array", items=_schema_of(typing.get_args(tp)[0], {"choices": meta.get("choices")}))
    elif meta.get("choices"):
        out["enum"] = list(meta["choices"]())
    else:
        out["type"] = {bool: "boolean", int: "integer", float: "number", str: "string"}[tp]
        if tp in (int, float):
            if meta.get("min") is not None:
                out["minimum"] = meta["min"]
            if meta.get("max") is not None:
                out["maximum"] = meta["max"]
    return out


def json_schema() -> dict:
    schema = _schema_of(Config, {})
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["description"] = "GASP pipeline parameters (generated from gasp/config.py; do not edit)"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
