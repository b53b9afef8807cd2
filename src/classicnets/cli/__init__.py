"""The `classicnets` command: a thin layer over the library, one module per subcommand.

Each subcommand's module has a torch-free `add_parser(sub)` and a `run(args)` that imports what it
needs, so `classicnets --help` and `classicnets train --help` answer at once. Options of `train` are
generated from the `TrainConfig`, `AugmentConfig` and `TransferConfig` dataclasses (types, choices,
and the unit comments as help; see `options`), and options left unset stay at their defaults.
A `UserError` prints one sentence and exits with status 2.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import sys

from ..errors import UserError
from .options import PROG, Parser, rank

# The subcommands, in the order `classicnets --help` lists them (each a module of this package).
COMMANDS = ("train", "evaluate", "predict", "pretrained", "export", "summary", "models", "study", "compare", "report",
            "extract", "recipes", "datasets")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Build, inspect, train and compare the "
                                      "classic convolutional and recurrent networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).add_parser(sub)
    return p


def run_cli(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse has printed its one line (or the help)
            return e.code if isinstance(e.code, int) else 0
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return args.func(args)
    except UserError as e:
        from .launch import report_error
        if report_error(e):  # a process of `train --nproc`: the launcher says it, once
            return 2
        # under torchrun rank 0 speaks for all, unless this process is the one that failed
        if not rank() or getattr(e, "always_print", False):
            print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C (or SIGTERM) while starting up or reading data: nothing to keep
        if not rank():
            print(f"\n{PROG}: interrupted", file=sys.stderr)
        return getattr(e, "status", 130)
    except BrokenPipeError:  # `classicnets models | head`: the reader has what it wanted
        _discard_stdout()
        return 141  # as a command stopped by SIGPIPE
    except OSError as e:  # a path the file system cannot take is always the user's to shorten
        if e.errno != errno.ENAMETOOLONG:
            raise
        from ..fileio import abbreviate
        print(f"{PROG}: error: the path {abbreviate(e.filename or '')} is too long for the file system (a name in "
              f"it over 255 bytes, or the whole over 4096); choose a shorter one", file=sys.stderr)
        return 2


def _discard_stdout() -> None:
    """Send what is left of stdout nowhere, so that Python's flush at exit does not fail again."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to flush
        pass


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exits with `run_cli`'s status."""
    sys.exit(run_cli(argv))
