"""What the subcommands share: the parser that reports its mistakes in one line, options generated
from the configuration dataclasses, argument types, and where output goes. Torch-free."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import re
import sys
import typing
from typing import Any

from ..errors import UserError

PROG = "classicnets"


class Parser(argparse.ArgumentParser):
    """argparse, with its mistakes reported as every other user error is: one line, status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# -- dataclass <-> argparse ------------------------------------------------------------------------
def _field_comments(cls: type) -> dict[str, str]:
    comments: dict[str, str] = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source shipped (frozen or zipped install): help without comments
        return comments
    for line in source.splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if m:
            comments[m.group(1)] = m.group(2).strip()
    return comments


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """One option per field of `cls`: its type (or choices), its unit comment and default as help;
    unset options stay None, so `dataclass_from_args` keeps the dataclass's defaults."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_ = f"{comments.get(f.name, '')} (default: {default})".replace("%", "%%")
        if tp is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_)
        elif typing.get_origin(tp) is typing.Literal:
            group.add_argument(flag, dest=f.name, choices=typing.get_args(tp), default=None, help=help_)
        elif tp in (int, float, str):
            group.add_argument(flag, dest=f.name, type=finite if tp is float else tp, default=None,
                               metavar=tp.__name__.upper(), help=help_)
        else:
            raise TypeError(f"no command-line mapping for {cls.__name__}.{f.name}: {tp}")


def dataclass_from_args(cls: type, args: argparse.Namespace, base: Any | None = None) -> Any:
    """`base` (or defaults) with the fields given on the command line replaced; None means unset."""
    return dataclasses.replace(base if base is not None else cls(), **given_fields(cls, args))


def given_fields(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of `cls` given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


# -- argument types --------------------------------------------------------------------------------
def finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)  # argparse: "invalid finite number value"
    return value


finite.__name__ = "finite number"


def depths(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated whole numbers, "20,56"."""
    return tuple(int(part) for part in text.split(","))


depths.__name__ = "list of depths"


def fraction(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1; got {text}")
    return value


fraction.__name__ = "number from 0 to 1"


def count(low: int):
    """argparse type: an integer of at least `low`."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}; got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def parse_model_args(pairs: list[str] | None, kind: str = "model") -> dict[str, Any]:
    """KEY=VALUE pairs (--arg, --data-arg) as a dict; values read as JSON where they can be (64, 0.5, true)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            example = "width=64" if kind == "model" else "maxlen=100"
            raise UserError(f"{kind} option {pair!r} must be written KEY=VALUE, e.g. {example}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_data_options(p: argparse.ArgumentParser, *, data_help: str) -> None:
    """--data, --data-arg and --data-dir, as `train` and `extract` take them."""
    p.add_argument("--data", help=data_help)
    p.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="data set option, repeatable: e.g. num_words=5000 and maxlen=100 for imdb, "
                        "length=100 for adding, size=128 for an image folder")
    p.add_argument("--data-dir", help="directory holding the data set's files if you already have them "
                   "(otherwise they are looked for in the cache, $CLASSICNETS_DATA, default ~/.cache/classicnets, "
                   "and in system packages, then downloaded)")


# -- where output goes -----------------------------------------------------------------------------
def rank() -> int:
    """This process's rank under torchrun (0 otherwise), without importing torch."""
    if not all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR")):
        return 0
    try:
        return int(os.environ["RANK"])
    except ValueError:
        return 0


def warn_function():
    """Where notes go: stderr, on rank 0 only under torchrun."""
    return (lambda s: None) if rank() else (lambda s: print(s, file=sys.stderr, flush=True))


def progress_callbacks(mode: str):
    """The training display: a progress bar on a terminal, plain epoch lines in logs, or nothing."""
    from ..train.progress import EpochLogger, ProgressBar

    if mode == "auto":  # a bar where a line can be redrawn: a terminal, and not TERM=dumb
        from rich.console import Console
        redraws = sys.stdout.isatty() and Console(file=sys.stdout).is_interactive
        mode = "bar" if redraws and not os.environ.get("CI") else "plain"
    if mode == "bar":
        return [ProgressBar()]
    if mode == "plain":
        return [EpochLogger(lambda s: print(s, flush=True))]
    return []


def output_dir(path: str, option: str = "--out"):
    """`path` as a directory to write into (made when something is written), refused now if it is a
    file, too long a path, or where nothing can be written: before any work is done."""
    from pathlib import Path

    from ..fileio import check_path_length, unwritable_reason

    check_path_length(path, option)
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out} is a file, not a directory; name a directory")
    reason = unwritable_reason(out)
    if reason is not None:
        raise UserError(f"cannot write in {option} {out}: {reason}; name a directory you can write to")
    return out
