"""`classicnets models [PATTERN]`: the registered networks, from the catalogue (no torch)."""
from __future__ import annotations

import argparse

from ..errors import UserError
from .options import PROG


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list registered models")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vgg*'")
    m.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    import fnmatch

    from rich.table import Table

    from ..catalog import load
    from ..terminal import print_table

    models = [m for m in load()["models"] if fnmatch.fnmatch(m["name"], a.pattern)]
    if not models:
        raise UserError(f"no model matches {a.pattern!r}; `{PROG} models` lists them all")
    table = Table()
    for col in ("model", "input", "params", "description"):
        table.add_column(col, justify="right" if col == "params" else "left", no_wrap=col != "description")
    for m in models:
        table.add_row(m["name"], "x".join(map(str, m["input"])), f"{m['params']:,}", m["description"])
    print_table(table)
    return 0
