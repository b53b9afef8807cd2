"""`classicnets report RUN`: one self-contained HTML page of a run."""
from __future__ import annotations

import argparse

from ..errors import UserError


def add_parser(sub) -> None:
    r = sub.add_parser("report", help="one self-contained HTML page of a run (RUN/report.html)",
                       description="Write RUN/report.html: recipe and overrides, the course's figure beside "
                       "the run's, curves, confusion matrices, layer table and environment, in one file "
                       "with its images inside (no network, no other files).")
    r.add_argument("run", help="run directory")
    r.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..runs.report import write_report

    try:
        path = write_report(a.run)
    except OSError as e:  # a read-only or full disk, no permission
        raise UserError(f"cannot write the report in {a.run}: {e.strerror}") from None
    print(f"Saved {path}")
    return 0
