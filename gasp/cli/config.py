"""`gasp config ...`: show the resolved config, write the JSON schema."""
from __future__ import annotations

import json
import sys

from gasp.cli.common import add_config_args, config_from_args


def register(sub) -> None:
    p = sub.add_parser("config", help="show the resolved config or its schema")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    show = csub.add_parser("show", help="print the validated, merged config as JSON")
    add_config_args(show)
    show.set_defaults(func=_show)
    schema = csub.add_parser("schema", help="print (or --write) workflow/schemas/params.schema.json")
    schema.add_argument("--write", action="store_true", help="write the schema file instead of printing it")
    schema.set_defaults(func=_schema)
    dvc = csub.add_parser("dvc-yaml", help="print (or --write) dvc.yaml, generated from gasp/pipeline.py")
    dvc.add_argument("--write", action="store_true", help="write dvc.yaml instead of printing it")
    dvc.set_defaults(func=_dvc_yaml)


def _show(args) -> int:
    cfg = config_from_args(args)
    json.dump(cfg.to_dict(), sys.stdout, indent=2)
    print()
    return 0


def _schema(args) -> int:
    from gasp.config import SCHEMA_FILE, json_schema_text
    from gasp.io import atomic_write_text

    text = json_schema_text()
    if args.write:
        atomic_write_text(SCHEMA_FILE, text)
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(text)
    return 0


def _dvc_yaml(args) -> int:
    from gasp.config import ROOT
    from gasp.io import atomic_write_text
    from gasp.pipeline import dvc_yaml

    text = dvc_yaml()
    if args.write:
        atomic_write_text(ROOT / "dvc.yaml", text)
        print(f"wrote {ROOT / 'dvc.yaml'}")
    else:
        sys.stdout.write(text)
    return 0
