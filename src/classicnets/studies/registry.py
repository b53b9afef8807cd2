"""The studies: name -> the class that runs it, and the course sentence it turns into a measurement.

Torch-free, so `classicnets study --list` and `--help` answer at once, and an option that does
not apply to a study is refused before any work. Quotes are verbatim from the
course texts in ../shared/course (the recipes' file names), with their line numbers;
tests/studies/test_registry.py checks each quote is on its line.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import unknown_name

F000, F001, F002, F003, F004 = ("000_6a8ff5c7ada7aa70.txt", "001_b9e4391287ed6fc6.txt", "002_4199b2fd625fe546.txt",
                                "003_6d6dd4707c479ce3.txt", "004_5b9c29f5a5af983d.txt")


@dataclass(frozen=True)
class CourseClaim:
    file: str       # course text, e.g. "001_b9e4391287ed6fc6.txt"
    line: int       # 1-based line of that file
    quote: str      # verbatim words of that line

    def where(self) -> str:
        return f"{self.file[:3]} L{self.line}"


@dataclass(frozen=True)
class StudyInfo:
    name: str                       # the command's name: `classicnets study NAME`
    module: str                     # submodule of classicnets.studies holding `cls`
    cls: str                        # the study's dataclass
    measures: str                   # one line: what is measured
    claim: CourseClaim              # the sentence the study tests
    also: tuple[CourseClaim, ...] = ()  # further places the course says it
    options: dict[str, Any] = field(default_factory=dict)  # settings the command line may change -> default
                                                            # (the class's own; tests check they agree)

    def load(self) -> type:
        """The study's class (imports torch)."""
        return getattr(importlib.import_module(f".{self.module}", __package__), self.cls)


STUDIES: dict[str, StudyInfo] = {}


def register_study(info: StudyInfo) -> StudyInfo:
    if info.name in STUDIES:
        raise ValueError(f"study {info.name!r} is registered twice")
    STUDIES[info.name] = info
    return info


def get_study(name: str) -> StudyInfo:
    try:
        return STUDIES[name]
    except KeyError:
        raise unknown_name("study", name, STUDIES) from None


register_study(StudyInfo(
    "vanishing-gradients", "vanishing", "VanishingGradients",
    "||dL/dx_t|| per time step for SimpleRNN, LSTM and GRU, at initialisation and after training",
    CourseClaim(F003, 77, "In particular the Backprop algorithm can lead to issues such as the Vanishing Gradients "
                          "Problem or the Exploding Gradient Problem, and in Section LSTMs we discuss a modified RNN "
                          "architecture called LSTM (Long Short Term Memory) which was designed to solve these "
                          "problems."),
    options=dict(length=100, units=32, epochs=8, train_length=50, seed=0)))
register_study(StudyInfo(
    "degradation", "degradation", "Degradation",
    "training error per epoch of plain and residual CIFAR networks at two depths",
    CourseClaim(F001, 18, "additional layers in a deep model lead to higher training errors(training not testing)"),
    also=(CourseClaim(F001, 37, "We want to go deeper without degradation in accuracy and error rate. We can do "
                                "this via injecting identity mappings."),),
    options=dict(depths=(20, 56), width=8, epochs=12, data="digits", lr=0.1, seed=0)))
register_study(StudyInfo(
    "shared-weights", "shared_weights", "SharedWeights",
    "a 1D convolution's weight gradients by hand (sum of z_i * delta_i over each weight's uses) beside autograd's",
    CourseClaim(F004, 752, "The gradient with respect to a weight parameter is computed as the sum of the gradients "
                           "of all the connections that share the same weight."),
    also=(CourseClaim(F004, 765, r"$$ \frac{\partial L}{\partial w_1} = z_1\delta_1 + z_2\delta_2 + z_3\delta_3 $$"),),
    options=dict(length=5, kernel=3, seed=0)))
register_study(StudyInfo(
    "exploding-gradients", "exploding", "ExplodingGradients",
    "a SimpleRNN with recurrent weights past spectral radius 1: gradient per time step, training with "
    "and without gradient clipping",
    CourseClaim(F003, 77, "In particular the Backprop algorithm can lead to issues such as the Vanishing Gradients "
                          "Problem or the Exploding Gradient Problem"),
    options=dict(radius=2.0, length=100, units=32, train_length=50, epochs=2, lr=0.1, clip_norm=0.1,
                 clip_value=0.0, seed=0)))
register_study(StudyInfo(
    "one-by-one", "one_by_one", "OneByOne",
    "Inception module with and without 1x1 reductions, bottleneck against two 3x3 convolutions: "
    "parameters, multiply-adds, activation memory, and a short training of each on digits",
    CourseClaim(F000, 138, "Its main contribution was the development of an Inception Module that dramatically "
                           "reduced the number of parameters in the network"),
    also=(CourseClaim(F000, 146, "What is the role of 1x1 convolutions?"),),
    options=dict(epochs=10, data="digits", seed=0)))
register_study(StudyInfo(
    "dropout", "dropout", "DropoutStudy",
    "the course's CIFAR CNN with and without dropout: training and validation loss per epoch, the gap",
    CourseClaim(F003, 470, "Recall that the Dropout technique is used to reduce the amount of Overfitting in a DLN "
                           "model."),
    also=(CourseClaim(F002, 93, "This is a fairly simple method that effectively deals with the problem of "
                                "retraining itself, without the need to introduce other regularizers."),),
    options=dict(epochs=40, train_size=300, data="digits", lr=1e-3, seed=0)))
