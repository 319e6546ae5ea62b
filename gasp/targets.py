"""Where every pipeline product lives and which ones a config asks for: the single source of
paths for the Snakemake rules, dvc.yaml's check and the report. Pure functions of the Config."""
from __future__ import annotations

from dataclasses import dataclass

from gasp.config import Config
from gasp.data import subject_id
from gasp.methods import METHODS, PRIOR_VARIANTS, SETTINGS

SYNTH = "data/synth"
PRIOR_DIR = "models/prior"
FITS = "results/fits"
METRICS = "results/metrics"
REPORTS = "reports"
REPORT_MD = f"{REPORTS}/report.md"
VERDICTS = f"{REPORTS}/verdicts.csv"
METRICS_JSON = f"{REPORTS}/metrics.json"
FIGURES = f"{REPORTS}/figures"
TABLES = ["main_table", "ablation_table", "multiview_table", "prior_size_table", "speed_table"]



@dataclass(frozen=True)
class FitCell:
    setting: str
    method: str
    subject: str

    @property
    def fit_dir(self) -> str:
        return f"{FITS}/{self.setting}/{self.method}/{self.subject}"

    @property
    def metrics_dir(self) -> str:
        return f"{METRICS}/{self.setting}/{self.method}/{self.subject}"


def prior_subjects(cfg: Config) -> list[str]:
    return [subject_id("prior", i) for i in range(cfg.synth.prior_subjects)]


def eval_subjects(cfg: Config) -> list[str]:
    n = cfg.synth.eval_subjects if cfg.fit.subjects == "all" else min(cfg.fit.subjects, cfg.synth.eval_subjects)
    return [subject_id("eval", i) for i in range(n)]


def manifest(domain: str) -> str:
    return f"{SYNTH}/{domain}/manifest.json"


def prior_checkpoint(variant: str) -> str:
    return f"{PRIOR_DIR}/{variant}/prior.pt"


def methods_for(cfg: Config, setting: str) -> list[str]:
    return getattr(cfg.fit, SETTINGS[setting].methods_key)


def prior_of(method: str) -> str | None:
    """The prior variant a method fits through (None: it needs no prior)."""
    return METHODS[method].prior


def fit_cells(cfg: Config) -> list[FitCell]:
    return [FitCell(s, m, subj) for s in cfg.fit.settings for m in methods_for(cfg, s)
            for subj in eval_subjects(cfg)]


def prior_variants_needed(cfg: Config) -> list[str]:
    """Variants in prior.variants, plus any a requested method needs."""
    need = {prior_of(c.method) for c in fit_cells(cfg)} - {None}
    return [v for v in PRIOR_VARIANTS if v in set(cfg.prior.variants) | need]


def table_paths() -> list[str]:
    return [f"{REPORTS}/{t}.csv" for t in TABLES]
