"""vanishing-gradients: `classicnets study vanishing-gradients`.

vanishing-gradients (the course's recurrent chapter, "vanishing gradients"; Bengio, Simard &
Frasconi 1994; Hochreiter & Schmidhuber 1997): for a SimpleRNN, an LSTM and a GRU of the same
width, the norm of the gradient of the loss with respect to each time step's input,
||dL/dx_t||, averaged over adding-problem sequences of `length` steps. The loss is read at the
last step, so step t's gradient has travelled back through `length - t` recurrent steps.

It is measured twice: at initialisation (Keras's: orthogonal recurrent weights, LSTM forget bias
1), and after training each network for `epochs` on the adding problem at `train_length` steps.
A SimpleRNN's gradient shrinks by orders of magnitude towards the first steps either way; the
trained LSTM and GRU learn to keep their state (forget gate near 1, update gate near 0) and their
gradients stay flat, which is what lets them solve the task.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import check_range
from .common import environment, one_thread

CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


@dataclass
class VanishingGradients:
    length: int = 100          # steps of the probe sequences the gradients are measured on
    units: int = 32            # width of every network
    epochs: int = 8            # training epochs on the adding problem before the second measurement (0: skip)
    train_length: int = 50     # steps of the training sequences
    probes: int = 256          # sequences averaged over
    seed: int = 0
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # stage -> model -> (length,)
    test_mse: dict[str, float] = field(default_factory=dict)
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> VanishingGradients:
        for name in ("length", "units", "train_length"):
            check_range(name, getattr(self, name), 2, None)
        check_range("epochs", self.epochs, 0, None)
        check_range("probes", self.probes, 1, None)
        check_range("seed", self.seed, 0, 2**63 - 1)
        return self

    def run(self, log=print, callbacks=()) -> VanishingGradients:
        """Measure (and train); `callbacks` (e.g. a progress bar) are passed to each network's `fit`."""
        self.validate()
        from ..data import load_dataset
        from ..data.sequences import adding_problem
        from ..train import TrainConfig
        from ..train.engine import fit
        from ..train.evaluation import evaluate
        from ..zoo import create

        probe = adding_problem(self.probes, self.length, torch.Generator().manual_seed(self.seed + 1))
        data = load_dataset("adding", length=self.train_length, seed=self.seed) if self.epochs else None
        config = TrainConfig(epochs=self.epochs or 1, batch_size=50, lr=1e-2, seed=self.seed, device="cpu")
        with one_thread():
            self.environment = environment(config.device)
            for name in CELLS:
                torch.manual_seed(self.seed)
                model = create(name, units=self.units)
                self.curves.setdefault("initialisation", {})[name] = input_gradients(model, probe.x, probe.y)
                if self.epochs:
                    log(f"Training {CELLS[name]} for {self.epochs} epochs on the adding problem "
                        f"({self.train_length} steps)")
                    fit(model, data, config, callbacks=callbacks)
                    self.test_mse[name] = evaluate(model, data)["loss"]
                    self.curves.setdefault("trained", {})[name] = input_gradients(model, probe.x, probe.y)
        return self

    def finding(self) -> str:
        """First step's gradient over the last step's, per network and stage."""
        parts = []
        for stage, curves in self.curves.items():
            ratios = ", ".join(f"{CELLS[n]} {c[0] / c[-1]:.1e}" for n, c in curves.items())
            mse = (" (test MSE " + ", ".join(f"{CELLS[n]} {v:.3f}" for n, v in self.test_mse.items()) + ")"
                   if stage == "trained" else "")
            parts.append(f"{stage}: {ratios}{mse}")
        return f"||dL/dx_1|| / ||dL/dx_{self.length}|| " + "; ".join(parts)

    def steps_shown(self) -> list[int]:
        n = self.length
        return sorted({1, *(max(1, round(n * f)) for f in (0.1, 0.25, 0.5, 0.75, 0.9)), n})

    def table(self):
        from rich.table import Table

        table = Table(title=f"||dL/dx_t|| on adding-problem sequences of {self.length} steps "
                            f"(loss read after step {self.length})", title_justify="left")
        table.add_column("step t")
        cols = [(stage, name) for stage in self.curves for name in CELLS]
        for stage, name in cols:
            table.add_column(f"{CELLS[name]}\n{stage}", justify="right")
        for t in self.steps_shown():
            table.add_row(str(t), *(f"{self.curves[s][n][t - 1]:.2e}" for s, n in cols))
        table.add_row("first / last", *(f"{self.curves[s][n][0] / self.curves[s][n][-1]:.1e}" for s, n in cols))
        return table

    def plot(self, path: Path) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..fileio import atomic_open

        stages = list(self.curves)
        fig, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 4), squeeze=False, sharey=True)
        steps = np.arange(1, self.length + 1)
        for ax, stage in zip(axes[0], stages):
            for name, curve in self.curves[stage].items():
                label = CELLS[name] + (f" (test MSE {self.test_mse[name]:.3f})" if stage == "trained" else "")
                ax.semilogy(steps, np.maximum(curve, 1e-30), label=label)
            title = "at initialisation" if stage == "initialisation" else \
                f"after {self.epochs} epochs on the adding problem"
            ax.set_title(title)
            ax.set_xlabel("time step t")
            ax.grid(alpha=0.3, which="both")
            ax.legend()
        axes[0][0].set_ylabel("||dL / dx_t|| (log scale)")
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)

    def to_dict(self) -> dict:
        return {"length": self.length, "units": self.units, "epochs": self.epochs,
                "train_length": self.train_length, "probes": self.probes, "seed": self.seed,
                "test_mse": self.test_mse, "environment": self.environment,
                "curves": {s: {n: c.tolist() for n, c in cs.items()} for s, cs in self.curves.items()}}


def input_gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Mean over sequences of ||dL/dx_t||, per step t, for the MSE loss of the model's output."""
    was_training = model.training
    model.eval()  # no dropout; the fused kernel
    x = x.clone().requires_grad_(True)
    # sum over the batch, so each sequence's gradient is its own loss's (not divided by the batch)
    F.mse_loss(model(x).reshape(y.shape), y, reduction="sum").backward()
    model.train(was_training)
    model.zero_grad(set_to_none=True)
    return x.grad.norm(dim=2).mean(0).numpy()
