"""The one exception type for mistakes a user can fix.

The CLI prints a `UserError` as a single sentence and exits with status 2; any other exception is a
bug and keeps its traceback.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: a name, a shape, a file. The message says what and how to fix it."""


# The command listing each kind of name, pointed to instead of a wall of names; up to MAX_LISTED are named.
LISTINGS = {"model": "classicnets models", "data set": "classicnets datasets", "recipe": "classicnets recipes",
            "study": "classicnets study --list"}
MAX_LISTED = 12


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """`UserError` for an unknown `name`, suggesting the closest known ones: those that look alike, else
    every name (a few) or the three closest and the command listing them all (many)."""
    known = sorted(known)
    listing = LISTINGS.get(kind)
    if not name.strip():
        where = f"`{listing}` lists them" if listing else f"known: {', '.join(known)}"
        return UserError(f"the {kind} name is empty; name one ({where})")
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        hint = f"did you mean {', '.join(repr(c) for c in close)}?"
    elif len(known) <= MAX_LISTED or listing is None:
        hint = f"known: {', '.join(known)}."
    else:
        closest = difflib.get_close_matches(name, known, n=3, cutoff=0)
        hint = f"the closest are {', '.join(map(repr, closest))}; `{listing}` lists all {len(known)}"
    return UserError(f"unknown {kind} {name!r}; {hint}")


def check_range(name: str, value, low=None, high=None, *, low_open: bool = False, high_open: bool = False,
                flag: str | None = None) -> None:
    """`UserError` unless low <= value <= high (strict where open), naming the option as on the command line."""
    flag = flag or "--" + name.replace("_", "-")
    ok = True
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    if low is not None and (value <= low if low_open else value < low):
        ok = False
    if high is not None and (value >= high if high_open else value > high):
        ok = False
    if ok:
        return
    lo = "" if low is None else (f"greater than {low}" if low_open else f"at least {low}")
    hi = "" if high is None else (f"less than {high}" if high_open else f"at most {high}")
    raise UserError(f"{flag} must be {' and '.join(p for p in (lo, hi) if p)}; got {value}")
