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
register_study(StudyInfo(
    "polynomial-degree", "polynomial", "PolynomialDegree",
    "polynomials of degree 0 to 14 fitted to 15 noisy points of a sine curve: training and held-out error, "
    "degree 3 against degree 14",
    CourseClaim(F002, 89, "If we apply a third-degree polynomial to this data, we will get a good approximation of "
                          "the original curve. Someone would argue that a 14th degree polynomial would fit better; "
                          "Indeed, since we have 15 points, such an approximation would ideally describe the "
                          "training set."),
    also=(CourseClaim(F002, 86, "Retraining is an unnecessarily precise correspondence of a neural network to a "
                                "specific set of training examples in which the network loses its ability to "
                                "generalize."),),
    options=dict(train_size=15, noise=0.2, seed=0)))
register_study(StudyInfo(
    "dense-vs-conv", "dense_vs_conv", "DenseVsConv",
    "validation accuracy by depth of dense networks and of ConvNets trained with the same budget",
    CourseClaim(F004, 14, "It has also been observed in practice that the accuracy of Dense Feed Forward Networks "
                          "does not keep improving as more hidden layers are added, usually max-ing out at 4 to 5 "
                          "layers. ConvNets however improve their accuracy with more hidden layers"),
    options=dict(depths=(1, 2, 3, 4, 6, 8), width=16, dense_width=128, epochs=20, data="digits", lr=3e-3, seed=0)))
register_study(StudyInfo(
    "highway", "highway_depth", "HighwayDepth",
    "training loss after the same steps of plain and highway networks at depths 10, 50 and 100, each at its "
    "best learning rate",
    CourseClaim(F000, 193, "With this kind of network you can train models with hundreds of layers."),
    options=dict(depths=(10, 50, 100), width=50, epochs=10, carry_bias=-4.0, data="digits", seed=0)))
register_study(StudyInfo(
    "conv-cost", "conv_cost", "ConvCost",
    "one training step of the chapter's CIFAR ConvNet and of a two-layer dense network timed on the same "
    "batch, and the multiply-adds that explain the difference",
    CourseClaim(F004, 450, "Note that the execution time of the ConvNet model is about 4 ms/step (a step being the "
                           "time to complete a forward pass followed by a backward pass for a single batch of data). "
                           "In comparison the execution time for a two layer Dense Feed Forward model from Chapter "
                           "NNDeepLearning was about 40 microsec/step."),
    also=(CourseClaim(F004, 570, r"$$ Mult = F_r F_r D_r\times W_{r+1} H_{r+1}\times D_{r+1} $$"),
          CourseClaim(F004, 578, r"It follows that the number of computations required to generate Layer $r+1$ in "
                                 r"a ConvNet is greater than the corresponding number in a Dense Feed Forward Network "
                                 r"by a multiplicative factor equal to $F_r F_r \times W_{r+1} H_{r+1}$")),
    options=dict(batch_size=128, repeats=20, seed=0)))
register_study(StudyInfo(
    "conv-backprop", "conv_backprop", "ConvBackprop",
    "the deltas carried back through a convolution by hand (transposed filter matrix; zero-padded deltas "
    "under the reversed filter) beside autograd's",
    CourseClaim(F004, 767, "In the case of ConvNets, the corresponding operation is a little more involved, and "
                           "proceeds by multiplication by the transpose of the filter matrix. In order to do this "
                           "efficiently using matrix multiplication, we have to pad the Activation Map (made up of "
                           "gradients) by zeroes."),
    options=dict(length=5, kernel=3, seed=0)))
register_study(StudyInfo(
    "residual-identity", "residual_identity", "ResidualIdentity",
    "a residual block F(x) + x fitted to the identity with and without weight decay, and a plain block: "
    "loss, ||F(x)|| and the weight norms per step",
    CourseClaim(F001, 48, "During training period, the residual network learns the weights of its layers such that "
                          "if the identity mapping were optimal, all the weights get set to 0. In effect F(x) "
                          "become 0"),
    also=(CourseClaim(F001, 46, "H(x) = F(x) + x, where F(x) = W2 * relu(W1 * x + b1) + b2"),),
    options=dict(width=32, epochs=1000, lr=0.1, weight_decay=0.03, seed=0)))
