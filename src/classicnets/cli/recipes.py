"""`classicnets recipes [PATTERN]`: the course's experiments, runnable with `train --recipe NAME`."""
from __future__ import annotations

import argparse

from ..errors import UserError
from .options import PROG


def add_parser(sub) -> None:
    r = sub.add_parser("recipes", help="list the course's experiments, runnable with train --recipe NAME")
    r.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'imdb*'")
    r.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from rich.table import Table

    from ..recipes import list_recipes
    from ..terminal import print_table

    recipes = list_recipes(a.pattern)
    if not recipes:
        raise UserError(f"no recipe matches {a.pattern!r}; `{PROG} recipes` lists them all")
    table = Table(caption=f"Run one: {PROG} train --recipe NAME [options that override it]")
    table.add_column("recipe", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("data", overflow="fold")
    table.add_column("epochs", justify="right")
    table.add_column("Keras-literal", overflow="fold")
    table.add_column("the course's result (or a published one)", min_width=22)
    for r in recipes:
        table.add_row(r.name, r.model, r.data, str(r.train["epochs"]), r.fidelity_brief(),
                      r.figure.describe() if r.figure.by == "course" else f"{r.figure.by}: {r.figure.describe()}")
    print_table(table)
    return 0
