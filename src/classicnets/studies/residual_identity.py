"""residual-identity (the course's ResNet chapter, file 001 L46-48): for H(x) = F(x) + x with
F(x) = W2 relu(W1 x + b1) + b2, "if the identity mapping were optimal, all the weights get set to 0.
In effect F(x) become 0".

The course's block, exactly that formula, is fitted to the identity (targets y = x, so the identity
is the optimal mapping) on `examples` random inputs of `dim` features, full-batch SGD for `epochs`
steps, three times from the same initial weights:

- residual, with weight decay (`weight_decay`, an L2 penalty on every weight and bias): the loss
  pulls F(x) to 0, and once it is there only the decay acts on the weights, which shrink
  geometrically, (1 - lr * weight_decay) per step: all of them go to 0, as the course says;
- residual, without weight decay: F(x) goes to 0 just as fast, but only W2 (and b2) must shrink for
  that; once W2 is near 0, W1 receives no gradient and keeps its initial weights. The course's
  sentence needs the decay (or some other pull towards small weights) for "all the weights";
- plain, the same layers without the shortcut (H(x) = F(x)), with weight decay: for it the identity
  is not zero weights but a particular non-zero solution it must find (e.g. W1 = [I; -I],
  W2 = [I, -I], since relu(x) - relu(-x) = x), so its loss stays higher and its weights do not vanish.

Measured every few steps: the loss, ||F(x)|| (root mean square of the residual branch's output),
and the norms of W1, b1, W2, b2. Pure CPU, a few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import check_range
from .common import check_common, environment, one_thread, pyplot, save_figure

RUNS = {"residual, weight decay": (True, True), "residual, no weight decay": (True, False),
        "plain, weight decay": (False, True)}  # run -> (shortcut, weight decay)
PARAMS = {"W1": "f.0.weight", "b1": "f.0.bias", "W2": "f.2.weight", "b2": "f.2.bias"}  # name -> parameter


class Block(nn.Module):
    """H(x) = F(x) + x (or F(x) alone without the shortcut), F(x) = W2 relu(W1 x + b1) + b2 (001 L46)."""

    def __init__(self, dim: int, width: int, shortcut: bool):
        super().__init__()
        self.f = nn.Sequential(nn.Linear(dim, width), nn.ReLU(), nn.Linear(width, dim))
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.f(x)
        return (f + x if self.shortcut else f), f


@dataclass
class ResidualIdentity:
    dim: int = 16               # features of x (and of H(x))
    width: int = 32             # hidden units of F (W1: width x dim)
    examples: int = 256         # random inputs, N(0, 1), the targets their copies
    epochs: int = 1000          # full-batch SGD steps
    lr: float = 0.1             # SGD learning rate per step (no momentum)
    weight_decay: float = 0.03  # L2 penalty of the runs with decay (torch's SGD weight_decay: grad += wd * w)
    seed: int = 0               # inputs and the initial weights (the same for the three runs)
    steps: list[int] = field(default_factory=list)                       # steps measured
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # run -> loss, F, W1, b1, W2, b2
    initial: dict[str, float] = field(default_factory=dict)              # W1, b1, W2, b2 norms at step 0
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> ResidualIdentity:
        check_common(self, counts=("dim", "width", "examples"))
        check_range("lr", self.lr, 0, None, low_open=True)
        check_range("weight_decay", self.weight_decay, 0, None, low_open=True)
        return self

    def run(self, log=print, callbacks=()) -> ResidualIdentity:
        self.validate()
        g = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.examples, self.dim, generator=g)
        every = max(1, self.epochs // 100)
        self.steps = list(range(0, self.epochs + 1, every))
        if self.steps[-1] != self.epochs:
            self.steps.append(self.epochs)
        with one_thread():
            self.environment = environment()
            torch.manual_seed(self.seed)
            start = Block(self.dim, self.width, True).state_dict()
            self.initial = {k: float(start[p].norm()) for k, p in PARAMS.items()}
            for name, (shortcut, decay) in RUNS.items():
                log(f"Fitting the {name.split(',')[0]} block to the identity, {self.epochs} SGD steps"
                    + (f", weight decay {self.weight_decay:g}" if decay else ", no weight decay"))
                block = Block(self.dim, self.width, shortcut)
                block.load_state_dict(start)
                self.curves[name] = self._fit(block, x, self.weight_decay if decay else 0.0)
        return self

    def _fit(self, block: Block, x: torch.Tensor, decay: float) -> dict[str, list[float]]:
        opt = torch.optim.SGD(block.parameters(), lr=self.lr, weight_decay=decay)
        curve: dict[str, list[float]] = {k: [] for k in ("loss", "F", *PARAMS)}
        shown = set(self.steps)
        for step in range(self.epochs + 1):
            h, f = block(x)
            loss = ((h - x) ** 2).sum(1).mean()  # squared distance from the identity, per example
            if step in shown:
                curve["loss"].append(loss.item())
                curve["F"].append(f.detach().pow(2).sum(1).mean().sqrt().item())
                params = dict(block.named_parameters())
                for k, p in PARAMS.items():
                    curve[k].append(float(params[p].detach().norm()))
            if step == self.epochs:
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return curve

    def final(self, run: str, what: str) -> float:
        return self.curves[run][what][-1]

    def shrink(self, run: str, what: str) -> float:
        """Final norm of `what` over its initial norm."""
        return self.final(run, what) / self.initial[what]

    def finding(self) -> str:
        wd, nowd, plain = RUNS
        holds = (max(self.shrink(wd, "W1"), self.shrink(wd, "W2")) < 0.2 and self.shrink(nowd, "W1") > 0.5
                 and self.final(plain, "loss") > self.final(wd, "loss"))
        return (f"after {self.epochs} steps fitting the identity, ||F(x)|| is {self.final(wd, 'F'):.1e} with weight "
                f"decay and {self.final(nowd, 'F'):.1e} without; with decay {self.weight_decay:g} the weights shrank "
                f"to {self.shrink(wd, 'W1'):.1%} (W1) and {self.shrink(wd, 'W2'):.1%} (W2) of their initial norms, "
                f"without it to {self.shrink(nowd, 'W1'):.1%} and {self.shrink(nowd, 'W2'):.1%}; the plain block "
                f"(no shortcut) ends at loss {self.final(plain, 'loss'):.3g} against {self.final(wd, 'loss'):.1e}: "
                + ("the residual weights go to 0 when the identity is optimal, all of them only with weight decay"
                   if holds else "the claim does not show in this setting"))

    def table(self):
        from rich.table import Table

        table = Table(title=f"F(x) = W2 relu(W1 x + b1) + b2 fitted to the identity ({self.dim} features, "
                            f"{self.width} hidden, {self.examples} examples, SGD lr {self.lr:g}); norms",
                      title_justify="left")
        for col in ("run", "step", "loss", "||F(x)||", *PARAMS):
            table.add_column(col, justify="left" if col == "run" else "right", no_wrap=True)
        picks = sorted({0, *(self.steps.index(s) for s in self.steps if s in
                             {self.steps[len(self.steps) // 10], self.steps[len(self.steps) // 3]}),
                        len(self.steps) - 1})
        for name, c in self.curves.items():
            for n, i in enumerate(picks):
                table.add_row(name if n == 0 else "", str(self.steps[i]), f"{c['loss'][i]:.2e}", f"{c['F'][i]:.2e}",
                              *(f"{c[k][i]:.3f}" for k in PARAMS), end_section=n == len(picks) - 1)
        return table

    def plot(self, path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        colors = dict(zip(RUNS, ("tab:blue", "tab:orange", "tab:grey")))
        for name, c in self.curves.items():
            axes[0].semilogy(self.steps, np.maximum(c["loss"], 1e-30), color=colors[name], label=name)
            for k, style in (("W1", "-"), ("W2", "--")):
                axes[1].plot(self.steps, c[k], style, color=colors[name], label=f"||{k}||, {name}")
            axes[2].semilogy(self.steps, np.maximum(c["F"], 1e-30), color=colors[name], label=name)
        axes[0].set_title("loss: mean ||H(x) - x||^2")
        axes[1].set_title("weight norms (solid W1, dashed W2)")
        axes[2].set_title("||F(x)||: the residual branch's output")
        for ax in axes:
            ax.set_xlabel("SGD step")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        fig.suptitle(f"A block fitted to the identity (weight decay {self.weight_decay:g} where named)")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"dim": self.dim, "width": self.width, "examples": self.examples, "epochs": self.epochs,
                "lr": self.lr, "weight_decay": self.weight_decay, "seed": self.seed, "optimizer": "sgd",
                "steps": self.steps, "initial": self.initial, "curves": self.curves,
                "shrink": {n: {k: self.shrink(n, k) for k in PARAMS} for n in RUNS},
                "finding": self.finding(), "environment": self.environment}
