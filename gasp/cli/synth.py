"""`gasp synth ...`: render subjects, write manifests, validate datasets, face check, contact sheet.

Render commands import synth/ (and bpy) inside their functions and end the process with os._exit
(bpy can crash at interpreter exit); everything else here never imports bpy.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from gasp.cli.common import add_config_args, config_from_args, default_params


def register(sub) -> None:
    p = sub.add_parser("synth", help="synthetic face dataset: render, manifest, validate, facecheck")
    ssub = p.add_subparsers(dest="synth_command", metavar="ACTION")
    ssub.required = True

    r = ssub.add_parser("render", help="render one subject into its folder (one process per subject)")
    add_config_args(r)
    r.add_argument("--domain", choices=["prior", "eval"], required=True)
    r.add_argument("--subject", required=True, help="subject id, e.g. p0003 or e0000")
    r.add_argument("--out", required=True, help="subject folder, e.g. data/synth/prior/p0003")
    r.add_argument("--threads", type=int, default=0, help="Cycles threads (default: synth.render_threads)")
    r.add_argument("--timings", default=None, help="write per-stage timings (JSON) here")
    r.set_defaults(func=_render)

    pv = ssub.add_parser("preview", help="render fixed views of one subject (used by facecheck, contact-sheet)")
    add_config_args(pv)
    pv.add_argument("--domain", choices=["prior", "eval"], required=True)
    pv.add_argument("--index", type=int, required=True)
    pv.add_argument("--spec", required=True, help="JSON: {yaws, pitch, resolution, light|null, distance|null}")
    pv.add_argument("--out", required=True)
    pv.add_argument("--threads", type=int, default=1)
    pv.set_defaults(func=_preview)

    m = ssub.add_parser("manifest", help="write <root>/<domain>/manifest.json over its finished subjects")
    add_config_args(m)
    m.add_argument("--domain", choices=["prior", "eval"], required=True)
    m.add_argument("--root", default="data/synth")
    m.set_defaults(func=_manifest)

    v = ssub.add_parser("validate", help="check a subject, domain or dataset folder; name every bad file and field")
    v.add_argument("dir")
    v.set_defaults(func=_validate)

    f = ssub.add_parser("facecheck", help="dlib face detection and identity separation on frontal renders (JSON)")
    add_config_args(f)
    f.add_argument("--subjects", type=int, default=20)
    f.add_argument("--resolution", type=int, default=256)
    f.add_argument("--out", default=None, help="write the JSON report here (default: stdout only)")
    f.add_argument("--keep", default=None, help="keep the rendered images in this folder")
    f.set_defaults(func=_facecheck)

    c = ssub.add_parser("contact-sheet", help="render prior + eval subjects from front, side, three-quarter, back")
    add_config_args(c)
    c.add_argument("--prior", type=int, default=12)
    c.add_argument("--eval", type=int, default=4)
    c.add_argument("--resolution", type=int, default=192)
    c.add_argument("--out", default="reports/figures/synth_contact_sheet.png")
    c.set_defaults(func=_contact_sheet)


def subject_index(subject: str, domain: str) -> int:
    from gasp.data import subject_id

    idx = int(subject[1:]) if subject[1:].isdigit() else -1
    if idx < 0 or subject_id(domain, idx) != subject:
        raise SystemExit(f"gasp synth: --subject {subject!r} is not a {domain} subject id like "
                         f"{subject_id(domain, 3)!r}")
    return idx


def _in_render_process(fn) -> None:
    """Run fn(), print any traceback, then leave with os._exit (bpy may crash at normal exit)."""
    import traceback

    from synth.blender import finish

    try:
        fn()
    except BaseException:
        traceback.print_exc()
        finish(1)
    finish(0)


def _render(args) -> int:
    cfg = config_from_args(args)
    index = subject_index(args.subject, args.domain)

    def work():
        from gasp.io import atomic_write_json
        from synth.render import render_subject

        t = render_subject(cfg, args.domain, index, args.out, threads=args.threads)
        if args.timings:
            atomic_write_json(args.timings, t)
        print(json.dumps({"subject": args.subject, **t}))

    _in_render_process(work)


def _preview(args) -> int:
    cfg = config_from_args(args)
    spec = json.loads(Path(args.spec).read_text())

    def work():
        from synth.render import render_preview

        render_preview(cfg, args.domain, args.index, spec["yaws"], spec["pitch"], spec["resolution"], args.out,
                       light=spec.get("light"), distance=spec.get("distance"), threads=args.threads)

    _in_render_process(work)


def run_previews(args, subjects: list[tuple[str, int]], spec: dict, out_dir: Path) -> list[dict]:
    """Render previews, one child process per subject (this process never imports bpy), as many at
    once as there are cores; return the subjects' records in order."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "spec.json").write_text(json.dumps(spec))
    base = [sys.executable, "-m", "gasp", "synth", "preview", "--params", str(args.params or default_params()), "--spec",
            str(out_dir / "spec.json"), "--out", str(out_dir)]
    base += ["--preset", args.preset] if args.preset else []
    for c in args.configfile:
        base += ["--configfile", c]

    def one(subject):
        r = subprocess.run(base + ["--domain", subject[0], "--index", str(subject[1])], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"preview of {subject} failed:\n{r.stderr[-3000:]}")

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(tqdm(pool.map(one, subjects), total=len(subjects), desc="previews", unit="subject"))
    from gasp.data import subject_id

    return [json.loads((out_dir / f"{subject_id(d, i)}.json").read_text()) for d, i in subjects]


def _manifest(args) -> int:
    import dataclasses

    from gasp import data

    cfg = config_from_args(args)
    n = cfg.synth.prior_subjects if args.domain == "prior" else cfg.synth.eval_subjects
    subjects = [data.subject_id(args.domain, i) for i in range(n)]
    data.write_manifest(Path(args.root) / args.domain, args.domain, subjects, dataclasses.asdict(cfg.synth))
    print(f"wrote {Path(args.root) / args.domain / 'manifest.json'} ({n} subjects)")
    return 0


def _validate(args) -> int:
    from gasp.data import validate

    errors = validate(args.dir)
    for e in errors:
        print(e, file=sys.stderr)
    print(f"{args.dir}: {'OK' if not errors else f'{len(errors)} problem(s)'}")
    return 1 if errors else 0


def _facecheck(args) -> int:
    from synth.facecheck import CHECK_YAWS, facecheck_report

    from synth.samplers import CHECK_LIGHT

    spec = {"yaws": CHECK_YAWS, "pitch": 5.0, "resolution": args.resolution, "light": CHECK_LIGHT, "distance": 0.55}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        report = facecheck_report(run_previews(args, [("prior", i) for i in range(args.subjects)], spec, out), out)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        from gasp.io import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return 0 if report["pass"] else 1


def _contact_sheet(args) -> int:
    from synth.contact_sheet import SHEET_YAWS, compose

    subjects = [("prior", i) for i in range(args.prior)] + [("eval", i) for i in range(args.eval)]
    spec = {"yaws": SHEET_YAWS, "pitch": 8.0, "resolution": args.resolution, "light": None, "distance": None}
    with tempfile.TemporaryDirectory() as tmp:
        records = run_previews(args, subjects, spec, Path(tmp))
        compose(records, Path(tmp), args.out)
    print(f"wrote {args.out}")
    return 0
