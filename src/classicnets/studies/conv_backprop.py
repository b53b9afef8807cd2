"""conv-backprop (the course's "ConvNets part 1", file 004 L767: backprop through a convolution): in a
dense network the deltas of layer r come from those of layer r+1 by "a multiplication by the
transpose W^T of the weight matrix"; in a ConvNet "by multiplication by the transpose of the filter
matrix", for which "we have to pad the Activation Map (made up of gradients) by zeroes".

The network is the course's figure (as in `shared-weights`) with a layer before it: pre-activations
a^(r) of `length` units, z = tanh(a^(r)), then the 1D convolution of `kernel` weights
a^(r+1)_i = sum_k w_k z_(i+k-1) + b, tanh, a dense layer to one output and the squared error over
a small batch, in float64. The deltas of layer r+1 are computed by hand (as `shared-weights` does),
then carried back to layer r three ways:

    the filter matrix   a^(r+1) = W z, W[i, i+k-1] = w_k (positions x length, w on its diagonals);
                        dL/dz = W^T delta^(r+1)
    the flipped filter  pad delta^(r+1) with kernel-1 zeros at each end and slide the filter
                        reversed (w_k, ..., w_1) over it: dL/dz_j = sum_i w_(j-i+1) delta_i
    autograd            z's gradient in the same network
    and then            delta^(r)_j = dL/dz_j * (1 - z_j^2)

and the three agree to rounding. The same rule holds in 2D (the filter turned by 180 degrees, each
input channel summing over the output channels): a 2D convolution of `kernel` x `kernel` filters,
2 channels in and 3 out, on `length` x `length` inputs is checked the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .common import Conv1DProblem, pyplot, save_figure

CHANNELS_2D = (2, 3)  # in, out of the 2D check


def filter_matrix(w: np.ndarray, length: int) -> np.ndarray:
    """(positions, length) matrix W with a = W z for a 'valid' 1D convolution (cross-correlation, as
    every deep learning library computes it) of the filter w over z."""
    k = len(w)
    m = np.zeros((length - k + 1, length))
    for i in range(length - k + 1):
        m[i, i:i + k] = w
    return m


def flipped_filter_pass(delta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(..., positions) deltas -> (..., length) dL/dz: pad with kernel-1 zeros at each end and slide
    the reversed filter over them (a 'full' convolution)."""
    k = len(w)
    padded = np.concatenate([np.zeros((*delta.shape[:-1], k - 1)), delta, np.zeros((*delta.shape[:-1], k - 1))], -1)
    flipped = w[::-1]
    length = delta.shape[-1] + k - 1
    return np.stack([padded[..., j:j + k] @ flipped for j in range(length)], axis=-1)


def flipped_filter_pass_2d(delta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(examples, out, P, P) deltas, (out, in, k, k) filters -> (examples, in, P+k-1, P+k-1) dL/dz:
    each input channel sums, over the output channels, the zero-padded deltas correlated with the
    filter turned by 180 degrees."""
    k = w.shape[-1]
    padded = np.pad(delta, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
    turned = w[:, :, ::-1, ::-1]
    n = delta.shape[-1] + k - 1
    out = np.zeros((delta.shape[0], w.shape[1], n, n))
    for r in range(n):
        for c in range(n):
            window = padded[:, :, r:r + k, c:c + k]                   # (examples, out, k, k)
            out[:, :, r, c] = np.einsum("eokl,oikl->ei", window, turned)
    return out


@dataclass
class ConvBackprop(Conv1DProblem):
    length: int = 5          # units of layer r, inputs z_1..z_n of the convolution (the course's figure: 5)
    kernel: int = 3          # weights w_1..w_k of the filter (the course's figure: 3)
    examples: int = 4        # batch the loss is averaged over
    seed: int = 0            # pre-activations, targets and weights
    z: np.ndarray | None = None                   # (examples, length) layer r's activations
    delta_next: np.ndarray | None = None          # (examples, positions) delta^(r+1), by hand
    matrix: np.ndarray | None = None              # (positions, length) the filter matrix W
    dz: dict[str, np.ndarray] = field(default_factory=dict)      # "filter matrix", "flipped filter", "autograd"
    delta: dict[str, np.ndarray] = field(default_factory=dict)   # delta^(r): "by hand", "autograd"
    check_2d: dict[str, float] = field(default_factory=dict)     # largest difference, sizes
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def _compute(self) -> ConvBackprop:
        g = torch.Generator().manual_seed(self.seed)
        a_r, y, w, b, v = self.draw(g)

        # autograd: layer r's pre-activations as the leaf, z's gradient kept
        leaf = a_r.clone().requires_grad_(True)
        z = torch.tanh(leaf)
        z.retain_grad()
        a_next = F.conv1d(z[:, None, :], w[None, None, :], b)[:, 0]  # (examples, positions)
        F.mse_loss(torch.tanh(a_next) @ v, y).backward()
        self.dz["autograd"] = z.grad.numpy().copy()
        self.delta["autograd"] = leaf.grad.numpy().copy()

        # by hand: delta^(r+1) as in shared-weights, then back through the filter two ways
        zn, wn, vn = z.detach().numpy(), w.numpy(), v.numpy()
        self.matrix = filter_matrix(wn, self.length)
        h = np.tanh(zn @ self.matrix.T + b.item())                # a^(r+1) = W z + b
        dy = 2.0 * (h @ vn - y.numpy()) / self.examples
        self.delta_next = dy[:, None] * vn[None, :] * (1.0 - h ** 2)
        self.z = zn
        self.dz["filter matrix"] = self.delta_next @ self.matrix      # per example: W^T delta
        self.dz["flipped filter"] = flipped_filter_pass(self.delta_next, wn)
        self.delta["by hand"] = self.dz["flipped filter"] * (1.0 - zn ** 2)
        self.check_2d = self._check_2d(g)
        return self

    def _check_2d(self, g: torch.Generator) -> dict[str, float]:
        """A 2D convolution's input gradient: the flipped-filter rule against autograd."""
        c_in, c_out = CHANNELS_2D
        x = torch.randn(self.examples, c_in, self.length, self.length, generator=g, dtype=torch.float64)
        w = torch.randn(c_out, c_in, self.kernel, self.kernel, generator=g, dtype=torch.float64)
        up = torch.randn(self.examples, c_out, self.positions, self.positions, generator=g, dtype=torch.float64)
        x.requires_grad_(True)
        (F.conv2d(x, w) * up).sum().backward()  # the deltas arriving at the outputs are `up`
        by_hand = flipped_filter_pass_2d(up.numpy(), w.numpy())
        return {"input": self.length, "kernel": self.kernel, "channels_in": c_in, "channels_out": c_out,
                "max_difference": float(np.abs(by_hand - x.grad.numpy()).max())}

    def max_difference(self) -> float:
        auto = self.dz["autograd"]
        return float(max(np.abs(self.dz[k] - auto).max() for k in ("filter matrix", "flipped filter")))

    def finding(self) -> str:
        return (f"carried back through {self.kernel} shared weights over {self.length} inputs, the deltas times "
                f"the transposed filter matrix, and the deltas padded with {self.kernel - 1} zeros at each end "
                f"under the reversed filter, both give autograd's dL/dz to {self.max_difference():.1e} "
                f"(largest difference); in 2D (the filter turned by 180 degrees, {CHANNELS_2D[0]} channels in, "
                f"{CHANNELS_2D[1]} out) to {self.check_2d['max_difference']:.1e}")

    def table(self):
        from rich.console import Group
        from rich.table import Table

        k, n = self.kernel, self.length
        main = Table(title=f"dL/dz for the first example: a 1D convolution of {k} weights over {n} inputs, "
                           f"{self.examples} examples (float64)", title_justify="left")
        for col in ("input", "z_j", "W^T δ", "padded δ * reversed w", "autograd", "δ^(r)_j = dL/dz_j (1-z_j²)"):
            main.add_column(col, justify="right", no_wrap=True)
        for j in range(n):
            main.add_row(f"z_{j + 1}", f"{self.z[0, j]:+.6f}", f"{self.dz['filter matrix'][0, j]:+.12f}",
                         f"{self.dz['flipped filter'][0, j]:+.12f}", f"{self.dz['autograd'][0, j]:+.12f}",
                         f"{self.delta['by hand'][0, j]:+.6f}")
        padded = np.r_[np.zeros(k - 1), self.delta_next[0], np.zeros(k - 1)]
        setup = Table(title="The two hand computations, first example", title_justify="left", show_header=False)
        setup.add_column("what", no_wrap=True)
        setup.add_column("values", no_wrap=True)
        setup.add_row("filter w", " ".join(f"{x:+.4f}" for x in self.matrix[0, :k]))
        setup.add_row("δ^(r+1)", " ".join(f"{x:+.4f}" for x in self.delta_next[0]))
        setup.add_row(f"padded by {k - 1} zeros", " ".join(f"{x:+.4f}" for x in padded))
        setup.add_row("reversed w slides over it", " ".join(f"{x:+.4f}" for x in self.matrix[0, :k][::-1]))
        for i, row in enumerate(self.matrix):
            setup.add_row("filter matrix W" if i == 0 else "", " ".join(f"{x:+.4f}" for x in row))
        return Group(setup, main)

    def plot(self, path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1.4]})
        m = np.abs(self.matrix).max()
        left.imshow(self.matrix, cmap="coolwarm", vmin=-m, vmax=m)
        for (i, j), x in np.ndenumerate(self.matrix):
            if x:
                left.text(j, i, f"w_{j - i + 1}", ha="center", va="center", fontsize=9)
        left.set_xticks(range(self.length), [f"z_{j + 1}" for j in range(self.length)])
        left.set_yticks(range(self.positions), [f"a_{i + 1}" for i in range(self.positions)])
        left.set_title("The filter matrix W (a = W z); dL/dz = W^T δ")
        x = np.arange(self.length)
        right.bar(x - 0.2, self.dz["filter matrix"][0], 0.4, label="W^T δ (by hand)")
        right.bar(x + 0.2, self.dz["flipped filter"][0], 0.4, label="zero-padded δ, reversed filter (by hand)")
        right.plot(x, self.dz["autograd"][0], "kD", ms=7, label="autograd")
        right.axhline(0, color="grey", lw=0.8)
        right.set_xticks(x, [f"z_{j + 1}" for j in x])
        right.set_ylabel("dL/dz_j (first example)")
        right.set_title(f"Three ways, largest difference {self.max_difference():.0e}")
        right.legend(fontsize=8)
        right.grid(alpha=0.3, axis="y")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"length": self.length, "kernel": self.kernel, "examples": self.examples, "seed": self.seed,
                "z": self.z.tolist(), "delta_next": self.delta_next.tolist(), "filter_matrix": self.matrix.tolist(),
                "dz": {k: v.tolist() for k, v in self.dz.items()},
                "delta": {k: v.tolist() for k, v in self.delta.items()},
                "max_difference": self.max_difference(), "check_2d": self.check_2d, "finding": self.finding(),
                "environment": self.environment}
