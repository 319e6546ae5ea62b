"""Report: aggregation over subjects, 95% intervals, paper columns, verdicts, files written."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gasp.steps.report import build as B
from gasp.steps.report.tables import aggregate, format_table, mean_ci95
from gasp.steps.report.verdicts import Comparison, judge


def test_mean_ci95_matches_student_t():
    x = [20.0, 21.0, 23.0, 22.5]
    iv = mean_ci95(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert iv.mean == pytest.approx(np.mean(x))
    assert iv.half_width == pytest.approx((hi - lo) / 2)
    one = mean_ci95([3.0])
    assert one.n == 1 and np.isnan(one.half_width)


def _rows(method, psnrs_by_subject, setting="monocular", views="frames", per_subject=3):
    rows = []
    for s, psnr in psnrs_by_subject.items():
        for k in range(per_subject):
            rows.append({"setting": setting, "method": method, "views": views, "subject": s,
                         "view": f"{k:03d}", "PSNR": psnr + 0.1 * (k - 1), "SSIM": 0.5, "LPIPS": np.nan,
                         "IDSIM_dlib": 0.9})
    return rows


def test_aggregate_averages_per_subject_first():
    df = pd.DataFrame(_rows("gasp", {"e0": 20.0}, per_subject=1) + _rows("gasp", {"e1": 30.0}, per_subject=9))
    t = aggregate(df)
    assert len(t) == 1
    per_subject = df.groupby("subject").PSNR.mean()
    assert t.PSNR.iloc[0] == pytest.approx(per_subject.mean())  # each subject weighs the same
    assert t.PSNR.iloc[0] != pytest.approx(df.PSNR.mean())  # ... not each image
    assert t.n_subjects.iloc[0] == 2 and t.n_images.iloc[0] == 10
    assert "LPIPS" not in t  # all-NaN metric left out, never invented
    assert format_table(t).PSNR_ci95.iloc[0] != "n/a"


def test_verdicts_directions_and_significance():
    subj = {f"e{i}": 20.0 + i for i in range(5)}
    worse = {k: v - 2.0 + 0.01 * i for i, (k, v) in enumerate(subj.items())}
    tiny = {k: v - 0.01 * ((-1) ** i) for i, (k, v) in enumerate(subj.items())}
    df = pd.DataFrame(_rows("gasp", subj) + _rows("no_prior", worse) + _rows("no_stage1", tiny))
    c = Comparison("monocular", "frames", "gasp", "no_prior", "PSNR")
    assert judge(df, c)["verdict"] == "yes"
    assert judge(df, Comparison("monocular", "frames", "no_prior", "gasp", "PSNR"))["verdict"] == "no"
    assert judge(df, Comparison("monocular", "frames", "gasp", "no_stage1", "PSNR"))["verdict"] in ("direction only", "no")
    # LPIPS absent: n/a, never a made-up verdict; IDSIM falls back to its named substitute
    assert judge(df, Comparison("monocular", "frames", "gasp", "no_prior", "LPIPS"))["verdict"] == "n/a"
    assert judge(df, Comparison("monocular", "frames", "gasp", "no_prior", "IDSIM"))["metric"] == "IDSIM_dlib"
    assert judge(df, Comparison("monocular", "frames", "gasp", "missing_method", "PSNR"))["verdict"] == "n/a"


def _write_results(root, fits_root, methods_psnr):
    for (setting, method), psnr in methods_psnr.items():
        for s in range(3):
            d = root / setting / method / f"e{s:04d}"
            d.mkdir(parents=True)
            rows = []
            for views in (["frames", "ring"] if setting != "multiview" else ["frames"]):
                rows += _rows(method, {f"e{s:04d}": psnr + 0.3 * s}, setting, views, per_subject=2)
            pd.DataFrame(rows).to_csv(d / "images.csv", index=False)
            rng = np.random.default_rng(s)
            n = len(rows)
            np.savez(d / "features.npz", pred=rng.normal(size=(n, 4)), gt=rng.normal(size=(n, 4)),
                     views=np.array([r["views"] for r in rows]), kind=np.array("FD_dlib"),
                     setting=np.array(setting), method=np.array(method))
            (d / "summary.json").write_text(json.dumps({
                "method": method, "render_fps": 12.5, "resolution": 64, "device": "cpu",
                "implementations": {"LPIPS": "n/a: weights missing", "FID": "FD_dlib", "IDSIM": "IDSIM_dlib"}}))
            f = fits_root / setting / method / f"e{s:04d}"
            f.mkdir(parents=True)
            (f / "fit.json").write_text(json.dumps({"fit_seconds": 60.0, "avatar_bytes": 2e6, "device": "cpu"}))


def test_build_writes_every_table_and_report(tmp_path):
    methods = {("monocular", m): 20.0 - i for i, m in enumerate(
        ["gasp", "prior_few", "no_prior_reg", "no_stage2", "no_stage1", "no_prior", "flashavatar_style", "prior_1subject"])}
    methods.update({("single", "gasp"): 19.0, ("single", "no_prior"): 15.0, ("multiview", "gasp"): 23.0,
                    ("multiview", "no_prior"): 23.2})
    _write_results(tmp_path / "metrics", tmp_path / "fits", methods)

    def frechet(a, b):
        return float(np.sum((a.mean(0) - b.mean(0)) ** 2))

    written = B.build(tmp_path / "metrics", tmp_path / "fits", tmp_path / "reports", frechet, "test")
    for name in ["main_table", "ablation_table", "multiview_table", "prior_size_table", "speed_table", "report"]:
        assert written[name].exists(), name
    main = pd.read_csv(written["main_table"])
    assert set(main.method) == {"gasp", "no_prior", "flashavatar_style"}
    assert {"paper_PSNR", "FD_dlib", "PSNR_ci95"} <= set(main.columns)
    assert "FID" not in main.columns  # the substitute never poses as FID
    g = main[(main.setting == "monocular") & (main.method == "gasp") & (main.views == "frames")]
    assert g.paper_PSNR.iloc[0] == 21.34
    prior_size = pd.read_csv(written["prior_size_table"])
    assert list(prior_size.prior_variant.unique()) == ["one", "few", "all"]
    speed = pd.read_csv(written["speed_table"])
    assert (speed.fit_minutes == 1.0).all() and (speed.avatar_MB == 2.0).all()
    text = written["report"].read_text()
    assert "prior_beats_no_prior" in text and "LPIPS" in text and "n/a: weights missing" in text
    verdicts = pd.read_csv(tmp_path / "reports" / "verdicts.csv")
    v = verdicts[(verdicts.finding == "prior_beats_no_prior") & (verdicts.metric == "PSNR")]
    assert set(v.verdict) == {"yes"}
    mv = verdicts[verdicts.finding == "multiview_close"]
    assert mv.verdict.iloc[0] == "yes"
    assert (tmp_path / "reports" / "figures" / "metrics.png").exists()
    m = json.loads(written["metrics"].read_text())
    assert m["monocular"]["gasp"]["frames"]["PSNR"] == pytest.approx(g.PSNR.iloc[0], abs=1e-3)
    assert m["verdicts"]["prior_beats_no_prior"] in ("yes", "partly", "direction only")


def test_build_without_results_names_the_folder(tmp_path):
    with pytest.raises(B.ReportError, match="no .*images.csv"):
        B.build(tmp_path / "nothing", tmp_path / "fits", tmp_path / "out", lambda a, b: 0.0)


def test_corrupt_metrics_csv_names_the_file(tmp_path):
    d = tmp_path / "metrics" / "monocular" / "gasp" / "e0000"
    d.mkdir(parents=True)
    (d / "images.csv").write_bytes(b"\x00\xff\x00garbage\n\"unclosed")
    with pytest.raises(B.ReportError, match="images.csv"):
        B.build(tmp_path / "metrics", tmp_path / "fits", tmp_path / "out", lambda a, b: 0.0)
