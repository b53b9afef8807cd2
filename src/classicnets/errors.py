"""The one exception type for mistakes a user can fix.

The CLI prints a `UserError` as a single sentence and exits with status 2; any other exception is a
bug and keeps its traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user: a name, a shape, a file. The message says what and how to fix it."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """`UserError` for an unknown `name`, suggesting the closest known ones."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(known)}."
    return UserError(f"unknown {kind} {name!r}; {hint}")
