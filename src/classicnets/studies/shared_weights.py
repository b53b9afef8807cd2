"""shared-weights (the course's "ConvNets part 1", file 004 L752-765: backprop with shared weights):
the gradient of a shared weight is the sum of the gradients of all the connections that use it,
dL/dw_1 = z_1 delta_1 + z_2 delta_2 + z_3 delta_3.

The network is the course's figure: a 1D convolution of `kernel` weights w_1..w_k (and a bias)
sliding over `length` inputs z_1..z_n, so pre-activation a_i = sum_k w_k z_(i+k-1) + b uses every
weight once per output position; then tanh, a dense layer to one output and the squared error,
over a small batch. The forward values z and the deltas delta_i = dL/da_i are computed by hand,
the chain rule written out:

    dL/dy_hat = 2 (y_hat - y) / N              (mean squared error over the batch)
    delta_i   = dL/dy_hat * v_i * (1 - h_i^2)  (dense weight v_i, h_i = tanh(a_i))
    dL/dw_k   = sum over examples and positions i of z_(i+k-1) * delta_i
    dL/db     = sum of delta_i

and set beside what autograd finds for the same network (float64). They agree to rounding.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .common import Conv1DProblem, pyplot, save_figure


@dataclass
class SharedWeights(Conv1DProblem):
    length: int = 5          # inputs z_1..z_n of the 1D convolution (the course's figure: 5)
    kernel: int = 3          # weights w_1..w_k of the filter (the course's figure: 3)
    examples: int = 4        # batch the loss is averaged over
    seed: int = 0            # inputs, targets and weights
    z: np.ndarray | None = None                  # (examples, length) inputs
    delta: np.ndarray | None = None              # (examples, positions) dL/da_i, by hand
    by_hand: dict[str, np.ndarray] = field(default_factory=dict)   # "weight" (kernel,), "bias" (1,)
    autograd: dict[str, np.ndarray] = field(default_factory=dict)
    loss: float = float("nan")
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def _compute(self) -> SharedWeights:
        g = torch.Generator().manual_seed(self.seed)
        z, y, w, b, v = self.draw(g)
        c = torch.zeros(1, dtype=torch.float64)

        # autograd: the same network with the weights as leaves
        params = {k: t.clone().requires_grad_(True) for k, t in (("weight", w), ("bias", b), ("dense", v))}
        a = F.conv1d(z[:, None, :], params["weight"][None, None, :], params["bias"])[:, 0]  # (examples, positions)
        y_hat = torch.tanh(a) @ params["dense"] + c                                          # (examples,)
        loss = F.mse_loss(y_hat, y)
        loss.backward()
        self.loss = float(loss.detach())
        self.autograd = {k: params[k].grad.numpy().copy() for k in ("weight", "bias")}

        # by hand: the forward values, the deltas, then each weight's gradient summed over its uses
        zn, wn, bn, vn, yn = (t.numpy() for t in (z, w, b, v, y))
        windows = np.stack([zn[:, i:i + self.kernel] for i in range(self.positions)], axis=1)  # (ex, pos, kernel)
        a_hand = windows @ wn + bn[0]                           # a_i = sum_k w_k z_(i+k-1) + b
        h = np.tanh(a_hand)
        dy = 2.0 * (h @ vn - yn) / self.examples                # dL/dy_hat per example
        self.delta = dy[:, None] * vn[None, :] * (1.0 - h ** 2)  # dL/da_i
        self.z = zn
        self.by_hand = {"weight": np.einsum("epk,ep->k", windows, self.delta),  # sum over uses of z * delta
                        "bias": self.delta.sum(keepdims=True).reshape(1)}
        return self

    def max_difference(self) -> float:
        return float(max(np.abs(self.by_hand[k] - self.autograd[k]).max() for k in ("weight", "bias")))

    def uses(self, k: int) -> np.ndarray:
        """(examples, positions) terms z_(i+k) * delta_i whose sum is dL/dw_(k+1) (k from 0)."""
        return self.z[:, k:k + self.positions] * self.delta

    def finding(self) -> str:
        return (f"each of the {self.kernel} shared weights is used {self.positions} times per example; the sum "
                f"of z_i * delta_i over those {self.positions * self.examples} uses matches autograd's gradient "
                f"to {self.max_difference():.1e} (largest difference)")

    def table(self):
        from rich.console import Group
        from rich.table import Table

        grads = Table(title=f"dL/dw: a 1D convolution of {self.kernel} weights over {self.length} inputs, "
                            f"{self.examples} examples (float64)", title_justify="left")
        for col in ("weight", "uses", "by hand: sum of z*delta", "autograd", "|difference|"):
            grads.add_column(col, justify="left" if col == "weight" else "right", no_wrap=True)
        for k in range(self.kernel):
            hand, auto = self.by_hand["weight"][k], self.autograd["weight"][k]
            grads.add_row(f"w_{k + 1}", str(self.positions * self.examples), f"{hand:+.12f}", f"{auto:+.12f}",
                          f"{abs(hand - auto):.1e}")
        hand, auto = self.by_hand["bias"][0], self.autograd["bias"][0]
        grads.add_row("b", str(self.positions * self.examples), f"{hand:+.12f}", f"{auto:+.12f}",
                      f"{abs(hand - auto):.1e}")
        n = self.positions
        sum_ = " + ".join(f"z_{i} δ_{i}" for i in range(1, n + 1)) if n <= 4 else f"z_1 δ_1 + ... + z_{n} δ_{n}"
        terms = Table(title=f"The course's sum for w_1, first example: dL/dw_1 = {sum_}", title_justify="left")
        for col in ("i", "z_i", "δ_i", "z_i δ_i"):
            terms.add_column(col, justify="right", no_wrap=True)
        for i in range(self.positions):
            terms.add_row(str(i + 1), f"{self.z[0, i]:+.6f}", f"{self.delta[0, i]:+.6f}",
                          f"{self.z[0, i] * self.delta[0, i]:+.6f}")
        terms.add_row("sum", "", "", f"{self.uses(0)[0].sum():+.6f}")
        return Group(grads, terms)

    def plot(self, path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * self.kernel + 2), 4))
        for k in range(self.kernel):  # one stacked bar per weight: each use's z * delta (summed over the batch)
            terms = self.uses(k).sum(0)
            pos = np.cumsum(np.r_[0, np.clip(terms, 0, None)])
            neg = np.cumsum(np.r_[0, np.clip(terms, None, 0)])
            for i, t in enumerate(terms):
                bottom = pos[i] if t >= 0 else neg[i]
                ax.bar(k, t, bottom=bottom, width=0.6, color=plt.cm.tab10(i % 10), edgecolor="white",
                       label=f"use at position {i + 1}" if k == 0 else None)
            ax.plot(k, self.autograd["weight"][k], "kD", ms=8, label="autograd's dL/dw" if k == 0 else None)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(self.kernel), [f"w_{k + 1}" for k in range(self.kernel)])
        ax.set_ylabel("gradient")
        ax.set_title(f"A shared weight's gradient is the sum over its {self.positions} uses "
                     f"(largest difference {self.max_difference():.0e})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"length": self.length, "kernel": self.kernel, "examples": self.examples, "seed": self.seed,
                "loss": self.loss, "z": self.z.tolist(), "delta": self.delta.tolist(),
                "by_hand": {k: v.tolist() for k, v in self.by_hand.items()},
                "autograd": {k: v.tolist() for k, v in self.autograd.items()},
                "uses": {f"w_{k + 1}": self.uses(k).tolist() for k in range(self.kernel)},
                "max_difference": self.max_difference(), "finding": self.finding(), "environment": self.environment}
