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
