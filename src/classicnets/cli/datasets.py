"""`classicnets datasets`: the registered data sets, from the catalogue (no torch)."""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    d = sub.add_parser("datasets", help="list data sets")
    d.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..catalog import load

    table = Table()
    for col in ("data set", "classes", "input", "splits", "description"):
        table.add_column(col)
    for d in load()["datasets"]:
        table.add_row(d["name"], str(d["classes"]), "x".join(map(str, d["input"])), d["splits"],
                      f"{d['description']}\n{d['license']}; {d['citation']}")
    Console().print(table)
    return 0
