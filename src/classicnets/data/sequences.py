"""Generated long-range sequence tasks: the offline default for recurrent networks.

- The adding problem (Hochreiter & Schmidhuber 1997, experiment 4; the form of Le et al. 2015):
  each step holds a value drawn uniformly from [0, 1] and a marker; exactly two steps are marked,
  one in each half of the sequence, and the target is the sum of their values. Always answering 1
  gives a mean squared error of 2/12 = 0.167 (the variance of the sum), the bar a network must
  beat by remembering two values over up to `length` steps.
- The copy-memory task (Hochreiter & Schmidhuber 1997; the form of Arjovsky et al. 2016): ten
  symbols from 1..8, `delay` blanks (0) of which the last is the cue 9, then the network must
  output the ten symbols. The target is blank everywhere else, so answering blanks and then
  uniform guesses scores a cross-entropy of 10 ln 8 / (delay + 20) per step.

Data are generated from a seed, so every split is the same on every machine.
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .core import Dataset, Split, option_int
from .registry import dataset_info

SIZES = {"train": 10000, "val": 1000, "test": 1000}
MAX_STEPS = 100_000      # longest sequence generated: 10,000 training sequences of it are already GBs


def adding_problem(n: int, length: int, generator: torch.Generator) -> Split:
    """x (n, length, 2): [value, marker]; y (n, 1): the sum of the two marked values."""
    if length < 2:
        raise UserError(f"the adding problem needs a length of at least 2; got {length}")
    values = torch.rand(n, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    marker = torch.zeros(n, length)
    rows = torch.arange(n)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return Split(torch.stack([values, marker], dim=2), y)


def copy_memory(n: int, delay: int, generator: torch.Generator, symbols: int = 8, copy_len: int = 10) -> Split:
    """x (n, delay + 2*copy_len) token ids; y the same shape: blanks (0), then the symbols."""
    if delay < 1:
        raise UserError(f"the copy task needs a delay of at least 1; got {delay}")
    total = delay + 2 * copy_len
    seq = torch.randint(1, symbols + 1, (n, copy_len), generator=generator)
    x = torch.zeros(n, total, dtype=torch.int64)
    x[:, :copy_len] = seq
    x[:, copy_len + delay - 1] = symbols + 1  # the cue
    y = torch.zeros(n, total, dtype=torch.int64)
    y[:, -copy_len:] = seq
    return Split(x, y)


def _splits(make, seed: int) -> dict[str, Split]:
    g = torch.Generator().manual_seed(seed)
    return {name: make(n, g) for name, n in SIZES.items()}


def load_adding(length: int = 50, seed: int = 0) -> Dataset:
    length = option_int("data set 'adding'", "length", length, 2, MAX_STEPS)
    seed = option_int("data set 'adding'", "seed", seed, 0, 2**63 - 1)
    s = _splits(lambda n, g: adding_problem(n, length, g), seed)
    return Dataset(f"adding{length}", [], s["train"], s["val"], s["test"], max_value=1.0,
                   description=(info := dataset_info("adding")).description, citation=info.citation, task="regression",
                   meta={"baseline_mse": 1 / 6, "length": length})


def load_copy(delay: int = 50, seed: int = 0) -> Dataset:
    delay = option_int("data set 'copy'", "delay", delay, 1, MAX_STEPS)
    seed = option_int("data set 'copy'", "seed", seed, 0, 2**63 - 1)
    s = _splits(lambda n, g: copy_memory(n, delay, g), seed)
    return Dataset(f"copy{delay}", [str(i) for i in range(10)], s["train"], s["val"], s["test"],
                   description=(info := dataset_info("copy")).description, citation=info.citation, task="multiclass",
                   meta={"num_words": 10, "per_step": True,
                         "baseline_loss": 10 * math.log(8) / (delay + 20), "delay": delay})


