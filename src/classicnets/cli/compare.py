"""`classicnets compare [RUN ... | DIR]`: one row per run, as a table, CSV, JSON or a plot of the curves."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError


def add_parser(sub) -> None:
    c = sub.add_parser("compare", help="one row per run: accuracy, parameters, time, the course's figure",
                       description="Compare runs: one row per run directory (a DIR means every run one or two "
                       "levels below it; default: runs). Interrupted, resumed and damaged runs are listed "
                       "with their status. A recipe's run is set beside the course's figure like with like: "
                       "'diff' is the run's best epoch minus the course's where the course quotes its best "
                       "epoch ('best val'), else the run's last epoch (or test score) minus the course's figure.")
    c.add_argument("runs", nargs="*", metavar="RUN|DIR", help="run directories, or directories holding them")
    c.add_argument("--sort", metavar="COLUMN", help="order by a column: run, model, data, params, epochs, time, "
                   "best_val, best_epoch, test, course, diff, status, or any --csv field; runs without a "
                   "value come last")
    c.add_argument("--reverse", action="store_true", help="largest first (or the listing order reversed)")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="write CSV to stdout instead of the table")
    fmt.add_argument("--json", action="store_true", help="write JSON to stdout instead of the table")
    c.add_argument("--plot", metavar="FILE", help="PNG of the runs' validation accuracy curves overlaid "
                   "(training accuracy, else loss, for runs without)")
    c.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..runs import compare
    from ..terminal import terminal_width

    if not a.runs and not Path("runs").is_dir():
        raise UserError("there is no runs directory here; name run directories or a directory holding them")
    rows = compare.collect(a.runs or ["runs"])
    if a.sort:
        rows = compare.sort_rows(rows, a.sort, reverse=a.reverse)
    elif a.reverse:
        rows.reverse()
    if a.plot:
        if Path(a.plot).is_dir():
            raise UserError(f"--plot {a.plot} is a directory; name a PNG file")
        try:
            compare.plot_runs(rows, a.plot, warn=lambda s: print(s, file=sys.stderr))
        except OSError as e:
            raise UserError(f"cannot write --plot {a.plot}: {e.strerror}") from None
    if a.csv:
        sys.stdout.write(compare.to_csv(rows))
    elif a.json:
        sys.stdout.write(compare.to_json(rows))
    else:
        compare.render(rows, print, width=terminal_width())
    if a.plot:
        print(f"Saved {a.plot}", file=sys.stderr if a.csv or a.json else sys.stdout)
    return 0
