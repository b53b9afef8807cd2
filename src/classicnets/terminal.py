"""Tables printed through rich, the same way everywhere: text is text, and a pipe gets whole rows.

Two rules for every table the package prints (predictions, confusion matrices, listings, compare,
summaries, studies):
- Nothing is read as rich markup or emoji codes: a class named ``[unknown]`` or ``[red]cat[/red]``, a run
  named ``[run] x``, a path holding ``:cat:`` print as they are written (rich would hide the first, print
  the second as "cat[", show a picture for the third, and raise on ``[/]one``).
- Away from a terminal (``| cat``, ``> file``, a CI log) a table is printed as wide as its content, so
  that no cell is wrapped onto more lines or cut; on a terminal rich fits it to the window, as before.
Torch-free; rich is imported when a table is printed.
"""
from __future__ import annotations

import io
import sys
from typing import Any, TextIO

# Wide enough for any row: with it a table takes its natural width (tables do not expand to fill it).
UNLIMITED = 100_000


def render_lines(renderable: Any, width: int | None = None) -> list[str]:
    """`renderable` (a rich Table, Group, ...) as lines of plain text, `width` columns wide or, with None,
    as wide as its longest row: nothing wrapped, nothing cut. Trailing spaces removed."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width or UNLIMITED, force_terminal=False, color_system=None, markup=False,
            emoji=False, highlight=False, soft_wrap=False).print(renderable)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def is_terminal(file: TextIO | None = None) -> bool:
    """Whether `file` (default: stdout) is a terminal, as rich decides it (FORCE_COLOR, TTY_COMPATIBLE...)."""
    from rich.console import Console

    return Console(file=file or sys.stdout).is_terminal


def terminal_width(file: TextIO | None = None) -> int | None:
    """The terminal's width in columns, or None where `file` (default: stdout) is not one (no limit)."""
    from rich.console import Console

    console = Console(file=file or sys.stdout)
    return console.width if console.is_terminal else None


def print_table(renderable: Any, file: TextIO | None = None) -> None:
    """Print `renderable` to `file` (default: stdout) without markup: fitted to a terminal, whole rows elsewhere."""
    from rich.console import Console

    file = file or sys.stdout
    console = Console(file=file, markup=False, emoji=False)
    if console.is_terminal:
        console.print(renderable)
        return
    file.write("".join(line + "\n" for line in render_lines(renderable)))  # one write, as rich does
    file.flush()
