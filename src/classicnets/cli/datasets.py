"""`classicnets datasets`: the registered data sets (from the torch-free registry) and where each one's
files would be found: the cache, --data-dir, a system package, or a download."""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    d = sub.add_parser("datasets", help="list data sets and where their files are (cache, --data-dir, a system "
                       "package) or would be downloaded from")
    d.add_argument("--data-dir", help="also look for the files in this directory, as `train --data-dir` does")
    d.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import UserError

    if a.data_dir is not None and not Path(a.data_dir).is_dir():
        raise UserError(f"--data-dir {a.data_dir} is not a directory; name the folder holding the data set's files")
    from rich.table import Table

    from ..data.registry import list_datasets
    from ..data.sources import locate_dataset
    from ..terminal import print_table

    table = Table()
    for col in ("data set", "classes", "input", "splits", "description"):
        table.add_column(col)
    for d in list_datasets():
        where = locate_dataset(d.name, a.data_dir if d.needs_download else None)
        table.add_row(d.name, str(d.classes), "x".join(map(str, d.input_shape)), d.splits,
                      f"{d.description}\n{d.license}; {d.citation}\nfiles: {where}")
    print_table(table)
    return 0
