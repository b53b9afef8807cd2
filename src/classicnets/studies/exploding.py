"""exploding-gradients (the course's recurrent chapter, file 003 L77: "the Backprop algorithm can lead
to issues such as the Vanishing Gradients Problem or the Exploding Gradient Problem"; Bengio, Simard &
Frasconi 1994; Pascanu, Mikolov & Bengio 2013).

A SimpleRNN's recurrent weights start orthogonal (Keras's initialisation: every eigenvalue on the
unit circle); scaling them by `radius` puts their spectral radius past 1. Measured:

1. ||dL/dx_t|| per time step t on adding-problem sequences of `length` steps (loss read at the
   last step, as in vanishing-gradients), for the unscaled network and the scaled one: the scaled
   one's gradient grows by orders of magnitude towards the first steps instead of shrinking.
2. The same scaled network trained with SGD on the adding problem twice from the same weights and
   the same batches: as it is, its loss grows step by step until it is no longer finite (training
   stops at that step, as `classicnets train` does); with the gradient clipped (`clip_norm`, the
   training option `--clip-norm`; or `clip_value`) every step stays finite.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..errors import UserError, check_range
from .common import StepLosses, check_common, environment, one_thread, pyplot, save_figure
from .vanishing import input_gradients


@dataclass
class ExplodingGradients:
    radius: float = 2.0         # spectral radius of the recurrent weights (orthogonal x radius); above 1 they explode
    length: int = 100           # steps of the probe sequences the gradients are measured on
    units: int = 32             # width of the SimpleRNN
    train_length: int = 50      # steps of the training sequences (adding problem)
    epochs: int = 2             # training epochs (200 steps of 50 sequences each)
    lr: float = 0.1             # SGD learning rate per step (momentum 0.9, constant)
    clip_norm: float = 0.1      # the clipped run's --clip-norm: largest global L2 norm of a step's gradient
    clip_value: float = 0.0     # the clipped run's --clip-value: largest absolute gradient element (0: off)
    probes: int = 256           # sequences averaged over for the gradient per step
    seed: int = 0               # weights, data, batch order
    gradients: dict[str, np.ndarray] = field(default_factory=dict)  # "radius 1", "radius 2" -> (length,)
    losses: dict[str, list[float]] = field(default_factory=dict)     # "unclipped", "clipped" -> loss per step
    stopped: dict[str, str] = field(default_factory=dict)            # run -> the sentence training stopped with
    val_mse: dict[str, float] = field(default_factory=dict)          # run -> validation MSE after training
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> ExplodingGradients:
        check_common(self, counts=("units", "probes"))
        for name in ("length", "train_length"):
            check_range(name, getattr(self, name), 2, None)
        check_range("radius", self.radius, 0, None, low_open=True)
        check_range("lr", self.lr, 0, None, low_open=True)
        check_range("clip_norm", self.clip_norm, 0, None)
        check_range("clip_value", self.clip_value, 0, None)
        if not self.clip_norm and not self.clip_value:
            raise UserError("the clipped run needs --clip-norm or --clip-value above 0")
        return self

    def clipping(self) -> str:
        parts = ([f"--clip-norm {self.clip_norm:g}"] if self.clip_norm else []) + \
                ([f"--clip-value {self.clip_value:g}"] if self.clip_value else [])
        return " ".join(parts)

    def _model(self, radius: float):
        from ..zoo import create

        model = create("simple_rnn", seed=self.seed, units=self.units)
        with torch.no_grad():
            model.simple_rnn.rnn.weight_hh_l0.mul_(radius)  # orthogonal: spectral radius 1 -> radius
        return model

    def run(self, log=print, callbacks=()) -> ExplodingGradients:
        from ..data import load_dataset
        from ..data.sequences import adding_problem
        from ..train import TrainConfig
        from ..train.engine import fit
        from ..train.evaluation import evaluate

        self.validate()
        probe = adding_problem(self.probes, self.length, torch.Generator().manual_seed(self.seed + 1))
        with one_thread():
            self.environment = environment()
            for r in sorted({1.0, self.radius}):
                self.gradients[f"radius {r:g}"] = input_gradients(self._model(r), probe.x, probe.y)
            data = load_dataset("adding", length=self.train_length, seed=self.seed)
            base = TrainConfig(epochs=self.epochs, batch_size=50, optimizer="sgd", lr=self.lr, momentum=0.9,
                               schedule="constant", seed=self.seed, device="cpu")
            runs = {"unclipped": base,
                    "clipped": replace(base, clip_norm=self.clip_norm, clip_value=self.clip_value)}
            for name, config in runs.items():
                log(f"Training the SimpleRNN (recurrent spectral radius {self.radius:g}) {name}"
                    + (f" ({self.clipping()})" if name == "clipped" else "")
                    + f" for {self.epochs} epochs of the adding problem ({self.train_length} steps)")
                model, steps = self._model(self.radius), StepLosses()
                try:
                    fit(model, data, config, callbacks=[*callbacks, steps])
                    self.val_mse[name] = evaluate(model, data, split="val")["loss"]
                except UserError as e:  # the loss became non-finite, or diverged: the run stops there
                    self.stopped[name] = str(e)
                self.losses[name] = steps.losses
                if name in self.stopped:
                    log(f"  stopped after {len(steps.losses)} steps: {self.reason(name)}")
        return self

    def growth(self) -> float:
        """||dL/dx_1|| / ||dL/dx_T|| of the scaled network (above 1: the gradient grows backwards in time)."""
        g = self.gradients[f"radius {self.radius:g}"]
        return float(g[0] / g[-1])

    def steps_before_stop(self, name: str) -> int | None:
        """Steps a run took before training stopped it (None: it finished). The step whose loss was not
        finite is not among them: training stops before its update."""
        return len(self.losses[name]) if name in self.stopped else None

    def reason(self, name: str) -> str:
        """The first clause of the sentence training stopped with ("the training loss became inf at epoch 1")."""
        return re.split(r"[(;,:]", self.stopped[name], maxsplit=1)[0].strip()

    def finding(self) -> str:
        r1 = self.gradients["radius 1"]
        out = (f"||dL/dx_1|| / ||dL/dx_{self.length}||: {r1[0] / r1[-1]:.1e} at radius 1, {self.growth():.1e} at "
               f"radius {self.radius:g}; ")
        bad = self.steps_before_stop("unclipped")
        out += (f"unclipped, training stopped after {bad} steps ({self.reason('unclipped')})"
                if bad is not None else f"unclipped, training stayed finite (val MSE {self.val_mse['unclipped']:.3f})")
        if "clipped" in self.stopped:
            out += f"; with {self.clipping()} it stopped too ({self.reason('clipped')})"
        else:
            out += (f"; with {self.clipping()} all {len(self.losses['clipped'])} steps stayed finite "
                    f"(val MSE {self.val_mse['clipped']:.3f}; always answering 1 scores 0.167)")
        return out

    def table(self):
        from rich.console import Group
        from rich.table import Table

        grads = Table(title=f"||dL/dx_t|| of a SimpleRNN ({self.units} units) on {self.length}-step sequences",
                      title_justify="left")
        grads.add_column("step t", no_wrap=True)
        for name in self.gradients:
            grads.add_column(f"recurrent {name}", justify="right", no_wrap=True)
        n = self.length
        for t in sorted({1, *(max(1, round(n * f)) for f in (0.25, 0.5, 0.75, 0.9)), n}):
            grads.add_row(str(t), *(f"{g[t - 1]:.2e}" for g in self.gradients.values()))
        grads.add_row("first / last", *(f"{g[0] / g[-1]:.1e}" for g in self.gradients.values()))

        first = next((losses[0] for losses in self.losses.values() if losses), float("nan"))  # same start
        runs = Table(title=f"Training loss per step at radius {self.radius:g} (SGD lr {self.lr:g}, momentum 0.9, "
                           f"batch 50; first step {first:.3g})",
                     title_justify="left")
        for col in ("run", "steps", "max", "last", "outcome"):
            runs.add_column(col, justify="left" if col in ("run", "outcome") else "right", no_wrap=True)
        for name, losses in self.losses.items():
            label = name if name == "unclipped" else self.clipping()
            outcome = (self.reason(name).removeprefix("the training ") if name in self.stopped
                       else f"finished, val MSE {self.val_mse[name]:.3f}")
            values = (f"{v:.3g}" for v in (max(losses), losses[-1])) if losses else ("-",) * 2
            runs.add_row(label, str(len(losses)), *values, outcome)
        return Group(grads, runs)

    def plot(self, path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
        steps = np.arange(1, self.length + 1)
        for name, g in self.gradients.items():
            left.semilogy(steps, np.maximum(g, 1e-30), label=f"recurrent weights at spectral {name}")
        left.set_xlabel("time step t (loss read after the last)")
        left.set_ylabel("||dL / dx_t|| (log scale)")
        left.set_title("Gradient per time step at initialisation")
        for name, losses in self.losses.items():
            label = name + (f" ({self.clipping()})" if name == "clipped" else "")
            bad = self.steps_before_stop(name)
            if bad is not None:
                label += f": stopped after step {bad}"
            right.semilogy(np.arange(1, len(losses) + 1), losses, label=label)
            if bad is not None and losses:
                right.plot(len(losses), losses[-1], "rx", ms=10)
        right.set_xlabel("training step")
        right.set_ylabel("training loss (MSE, log scale)")
        right.set_title(f"Training at spectral radius {self.radius:g} (SGD, lr {self.lr:g})")
        for ax in (left, right):
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"radius": self.radius, "length": self.length, "units": self.units,
                "train_length": self.train_length, "epochs": self.epochs, "lr": self.lr, "optimizer": "sgd",
                "momentum": 0.9, "batch_size": 50, "clip_norm": self.clip_norm, "clip_value": self.clip_value,
                "probes": self.probes, "seed": self.seed, "growth": self.growth(),
                "gradients": {k: v.tolist() for k, v in self.gradients.items()},
                "losses": {k: [v if math.isfinite(v) else str(v) for v in ls] for k, ls in self.losses.items()},
                "steps_before_stop": {k: self.steps_before_stop(k) for k in self.losses},
                "stopped": self.stopped, "val_mse": self.val_mse, "finding": self.finding(),
                "environment": self.environment}
