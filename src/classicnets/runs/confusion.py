"""Reading a confusion matrix too large for a table: the most frequent confusions and the worst classes.

A terminal table of counts has one column per class; beyond about 20 classes (CIFAR-100 has 100) its
columns collapse to nothing. What one reads from such a matrix anyway is which true -> predicted
pairs are most frequent and which classes are least accurate; `top_confusions` and `worst_classes`
count those (rows are true classes, columns predicted, as `evaluate(..., confusion=True)` returns),
and `render_confusions` writes them as lines through a print function.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

TABLE_MAX_CLASSES = 20  # up to this many classes a table of counts stays readable in 80-100 columns


@dataclass(frozen=True)
class Confusion:
    true: str
    predicted: str
    count: int      # examples of `true` predicted as `predicted`
    share: float    # count / examples of `true` (0..1)


@dataclass(frozen=True)
class ClassAccuracy:
    name: str
    correct: int
    total: int      # examples of this class (its row's sum)

    @property
    def acc(self) -> float:
        return self.correct / self.total


def _square(matrix, classes: Sequence[str]) -> np.ndarray:
    m = np.asarray(matrix.tolist() if hasattr(matrix, "tolist") else matrix, dtype=np.int64)
    if m.ndim != 2 or m.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix of shape {m.shape} for {len(classes)} classes")
    return m


def top_confusions(matrix, classes: Sequence[str], n: int = 10) -> list[Confusion]:
    """The `n` most frequent off-diagonal cells, largest count first (ties: the larger share of its
    true class, then class order)."""
    m = _square(matrix, classes)
    totals = m.sum(axis=1)
    cells = [(int(m[i, j]), m[i, j] / totals[i], i, j) for i, j in zip(*np.nonzero(m)) if i != j]
    cells.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    return [Confusion(classes[i], classes[j], count, float(share)) for count, share, i, j in cells[:n]]


def worst_classes(matrix, classes: Sequence[str], n: int = 10) -> list[ClassAccuracy]:
    """The `n` classes with the lowest accuracy (recall: the diagonal over the row), lowest first;
    classes without examples in this split are left out."""
    m = _square(matrix, classes)
    rows = [ClassAccuracy(classes[i], int(m[i, i]), int(t)) for i, t in enumerate(m.sum(axis=1)) if t]
    return sorted(rows, key=lambda r: r.acc)[:n]  # stable: ties keep class order


def render_confusions(matrix, classes: Sequence[str], print_fn: Callable[[str], None] = print,
                      n: int = 10) -> None:
    """The top-`n` confusions and worst-`n` classes as aligned lines, e.g.

        Most frequent confusions (true -> predicted):
            maple_tree -> oak_tree      23  (23.0% of maple_tree)
        Lowest accuracy per class:
            otter     41.0%  (41/100)
    """
    confusions = top_confusions(matrix, classes, n)
    worst = worst_classes(matrix, classes, n)
    print_fn("Most frequent confusions (true -> predicted):")
    if not confusions:
        print_fn("    none: every example is on the diagonal")
    pairs = [f"{c.true} -> {c.predicted}" for c in confusions]
    pw = max(map(len, pairs), default=0)
    cw = max((len(f"{c.count:,}") for c in confusions), default=0)
    for pair, c in zip(pairs, confusions):
        print_fn(f"    {pair:<{pw}}  {c.count:>{cw},}  ({c.share:.1%} of {c.true})")
    print_fn("Lowest accuracy per class:")
    nw = max((len(r.name) for r in worst), default=0)
    for r in worst:
        print_fn(f"    {r.name:<{nw}}  {r.acc:>6.1%}  ({r.correct:,}/{r.total:,})")
