"""The registry of fitting methods and evaluation settings: one entry each.

Config validation (gasp/config.py), the pipeline's targets (gasp/targets.py), the CLI's choices,
fitting (gasp/steps/fit.py), evaluation (gasp/steps/evaluate.py) and the report's tables (gasp/steps/report/build.py)
all read these two tables, so adding a method or a setting is one entry here (a setting also needs
the `fit.<methods_key>` list in gasp/config.py and params.yaml that says which methods run in it).
Which methods actually run is params.yaml's choice (`fit.methods`, `fit.single_methods`, ...).
"""
from __future__ import annotations

from dataclasses import dataclass

FIT_STAGES = ("invert", "decoder", "refine")
# Prior variants, largest first (the order they train in): trained on every prior subject, on
# `prior.few_subjects`, on one subject.
PRIOR_VARIANTS = ("all", "few", "one")
REPORT_TABLES = ("main", "ablation", "prior_size")


@dataclass(frozen=True)
class Method:
    prior: str | None              # prior variant it starts from (PRIOR_VARIANTS); None: the head-model template
    stages: tuple[str, ...]        # subset of FIT_STAGES, in order, ending with "refine" (it bakes the avatar)
    prior_reg: bool = True         # L_prior in every stage
    offset_mlp: bool = False       # FlashAvatar-style expression-conditioned offset MLP, trained from scratch
    tables: tuple[str, ...] = ()   # report tables that list it (REPORT_TABLES; "main" includes multi-view)

    @property
    def from_prior(self) -> bool:
        return self.prior is not None


# In report order: the main table's methods first, then the ablations.
METHODS: dict[str, Method] = {
    "gasp": Method("all", FIT_STAGES, tables=("main", "ablation", "prior_size")),
    "no_prior": Method(None, ("refine",), prior_reg=False, tables=("main", "ablation")),
    "flashavatar_style": Method(None, ("refine",), prior_reg=False, offset_mlp=True, tables=("main",)),
    "no_prior_reg": Method("all", FIT_STAGES, prior_reg=False, tables=("ablation",)),
    "no_stage1": Method("all", ("decoder", "refine"), tables=("ablation",)),
    "no_stage2": Method("all", ("invert", "refine"), tables=("ablation",)),
    "prior_1subject": Method("one", FIT_STAGES, tables=("ablation", "prior_size")),
    "prior_few": Method("few", FIT_STAGES, tables=("prior_size",)),
}


@dataclass(frozen=True)
class Setting:
    fit_views: tuple[str, str | None]          # (view group, split or None = any) the fit sees
    eval_views: dict[str, tuple[str, str]]     # name -> (view group, split) evaluated; "ring" only when eval.ring
    methods_key: str                           # the FitConfig list naming the methods run in this setting


# Views by group and split of the dataset (docs/interfaces.md, gasp/data.py).
SETTINGS: dict[str, Setting] = {
    "monocular": Setting(("video", "train"), {"frames": ("video", "test"), "ring": ("ring", "test")}, "methods"),
    "single": Setting(("single", None), {"frames": ("video", "test"), "ring": ("ring", "test")}, "single_methods"),
    "multiview": Setting(("rig", "train"), {"frames": ("rig", "test")}, "multiview_methods"),
}


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)


def setting_names() -> tuple[str, ...]:
    return tuple(SETTINGS)


def table_methods(table: str) -> list[str]:
    """The methods a report table lists, in registry order; the prior-size table by prior size."""
    names = [n for n, m in METHODS.items() if table in m.tables]
    if table == "prior_size":
        names.sort(key=lambda n: -PRIOR_VARIANTS.index(METHODS[n].prior))
    return names

