"""one-by-one (the course's Large ConvNets chapter, file 000 L138-146: the Inception module
"dramatically reduced the number of parameters"; "What is the role of 1x1 convolutions?").

Two pairs of modules, counted at the size they have in their papers with `classicnets.inspect`
(parameters, multiply-adds and activation memory per example):

- GoogLeNet's Inception 3a (Szegedy et al. 2014, table 1; 28x28x192 input, 5x5 kernels, no
  BatchNorm) with its 1x1 reductions (figure 2b) and without them (the "naive" module, figure 2a:
  the 3x3 and 5x5 convolutions read all 192 channels, the pooled input is concatenated as it is).
- A ResNet bottleneck unit (He et al. 2015, figure 5 right: 1x1 256->64, 3x3 64, 1x1 64->256) on
  56x56x256, against two 3x3 convolutions of 256 filters on the same input.

Then a short training of each design in a small network on digits (a 3x3 stem, the module at a
quarter of 3a's widths or at 64 channels, global average pooling, a dense layer), to see what the
saving costs in accuracy. Activation memory is reported as measured: the reductions add their own
(small) maps inside the module, while the module's *output*, which the next layer reads and which
the naive design grows by every input channel, is what they shrink.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .common import (
    EpochClock,
    check_common,
    check_image_data,
    device_for,
    environment,
    image_data,
    one_thread,
    pyplot,
    save_figure,
)

PAIRS = {  # kind -> (the design with 1x1 convolutions, the one without)
    "inception": ("3a with 1x1", "3a naive"),
    "bottleneck": ("bottleneck", "two 3x3"),
}
SAID = {"inception": ("Inception 3a with its 1x1 reductions", "the naive module"),
        "bottleneck": ("the bottleneck unit (1x1, 3x3, 1x1)", "two 3x3 convolutions")}
INPUTS = {"inception": (192, 28, 28), "bottleneck": (256, 56, 56)}


def full_size(name: str) -> nn.Module:
    """The module of `name` at its paper's widths."""
    from ..blocks import BasicBlock, Bottleneck, InceptionModule
    from ..zoo.googlenet import TABLE1, _plain_conv

    if name.startswith("3a"):
        return InceptionModule(*TABLE1["3a"], conv=_plain_conv, k5=5, reductions="naive" not in name)
    return Bottleneck(256, 64) if name.startswith("bottleneck") else BasicBlock(256, 256)


def small_network(name: str, in_channels: int, num_classes: int) -> nn.Sequential:
    """Stem, the module of `name` at small widths, global average pooling, dense."""
    from ..blocks import BasicBlock, Bottleneck, InceptionModule, conv_bn_act
    from ..zoo.googlenet import TABLE1, _bn_conv

    if name.startswith("3a"):
        row = tuple(c // 4 for c in TABLE1["3a"])  # 48 in: 16, 24 -> 32, 4 -> 8, pool 8
        reductions = "naive" not in name
        block = InceptionModule(*row, conv=_bn_conv, k5=5, reductions=reductions)
        c_in, c_out = row[0], row[1] + row[3] + row[5] + (row[6] if reductions else row[0])
    else:
        c_in = c_out = 64
        block = Bottleneck(64, 16) if name.startswith("bottleneck") else BasicBlock(64, 64)
    return nn.Sequential(conv_bn_act(in_channels, c_in, 3), block, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c_out, num_classes))


@dataclass
class OneByOne:
    epochs: int = 10            # training epochs of each small network
    data: str = "digits"        # image data set for the short trainings
    seed: int = 0               # weights, data order
    counts: dict[str, dict] = field(default_factory=dict)   # module -> params, macs, activation_bytes, ...
    trained: dict[str, dict] = field(default_factory=dict)  # small network -> params, val_acc per epoch, test_acc
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> OneByOne:
        check_common(self)
        check_image_data(self.data, "one-by-one")
        return self

    def run(self, log=print, callbacks=()) -> OneByOne:
        from ..inspect import summarize
        from ..train import TrainConfig
        from ..train.engine import fit
        from ..train.evaluation import evaluate

        self.validate()
        for kind, names in PAIRS.items():
            for name in names:
                with torch.device("meta"):  # shapes only: no memory, no time for weights
                    module = full_size(name)
                    s = summarize(module, INPUTS[kind])
                    out = module(torch.zeros(1, *INPUTS[kind]))  # (1, channels, H, W): the branches concatenated
                self.counts[name] = {"input": list(INPUTS[kind]), "params": s.total_params, "macs": s.macs,
                                     "activation_bytes": s.activation_bytes, "output_channels": out.shape[1]}
        data = image_data(self.data, "one-by-one")
        config = TrainConfig(epochs=self.epochs, batch_size=64, seed=self.seed,
                             device=device_for(self.data == "digits"))
        with one_thread(small=self.data == "digits"):
            self.environment = environment(config.device)
            for names in PAIRS.values():
                for name in names:
                    with torch.random.fork_rng(devices=[]):  # the same weights for any earlier draws
                        torch.manual_seed(self.seed)
                        model = small_network(name, data.input_shape[0], data.num_classes)
                    params = sum(p.numel() for p in model.parameters())
                    log(f"Training a small network with the {name} ({params:,} parameters) on {self.data} "
                        f"for {self.epochs} epochs")
                    clock = EpochClock()
                    start = time.perf_counter()
                    history = fit(model, data, config, callbacks=[*callbacks, clock])
                    self.trained[name] = {
                        "params": params, "seconds": time.perf_counter() - start,
                        "seconds_per_epoch": sum(clock.seconds) / len(clock.seconds),
                        "train_acc": history.history["acc"], "val_acc": history.history.get("val_acc", []),
                        "test_acc": evaluate(model, data)["acc"] if data.test is not None else None}
        return self

    def ratio(self, kind: str, what: str) -> float:
        """Without 1x1 convolutions over with them: how many times more `what` the other design costs."""
        with_, without = PAIRS[kind]
        return self.counts[without][what] / self.counts[with_][what]

    def accuracy_change(self, kind: str) -> float | None:
        """Test accuracy of the small network with 1x1 convolutions minus without."""
        with_, without = PAIRS[kind]
        a, b = self.trained[with_]["test_acc"], self.trained[without]["test_acc"]
        return None if a is None or b is None else a - b

    def finding(self) -> str:
        parts = []
        for kind, (with_, without) in PAIRS.items():
            c = self.counts
            acc = self.accuracy_change(kind)
            parts.append(f"{SAID[kind][0]}: {c[with_]['params']:,} parameters against {c[without]['params']:,} "
                         f"for {SAID[kind][1]} ({self.ratio(kind, 'params'):.1f}x fewer), "
                         f"{self.ratio(kind, 'macs'):.1f}x fewer multiply-adds"
                         + ("" if acc is None else f", {100 * acc:+.1f} points of test accuracy on {self.data}"))
        return "; ".join(parts)

    def table(self):
        from rich.console import Group
        from rich.table import Table

        from ..inspect.summary import _si

        counts = Table(title="Papers' sizes, per example (act. mem: every layer's output, float32)",
                       title_justify="left")
        for col in ("module", "input", "params", "mult-adds", "act. mem", "out ch"):
            counts.add_column(col, justify="left" if col == "module" else "right", no_wrap=True)
        for kind, names in PAIRS.items():
            for name in names:
                c = self.counts[name]
                counts.add_row(name, "x".join(map(str, c["input"])), f"{c['params']:,}", _si(c["macs"]),
                               f"{c['activation_bytes'] / 2**20:.1f} MiB", str(c["output_channels"]))
            counts.add_row("without / with", "", f"{self.ratio(kind, 'params'):.1f}x",
                           f"{self.ratio(kind, 'macs'):.1f}x", f"{self.ratio(kind, 'activation_bytes'):.2f}x",
                           f"{self.ratio(kind, 'output_channels'):.2f}x", end_section=True)
        trained = Table(title=f"Small networks trained on {self.data} for {self.epochs} epochs (seed {self.seed})",
                        title_justify="left")
        for col in ("network with", "params", "val acc", "test acc", "s/epoch"):
            trained.add_column(col, justify="left" if col == "network with" else "right", no_wrap=True)
        for name, t in self.trained.items():
            trained.add_row(name, f"{t['params']:,}", f"{t['val_acc'][-1]:.1%}" if t["val_acc"] else "-",
                            f"{t['test_acc']:.1%}" if t["test_acc"] is not None else "-",
                            f"{t['seconds_per_epoch']:.2f}")
        return Group(counts, trained)

    def plot(self, path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
        whats = [("params", "parameters"), ("macs", "multiply-adds"), ("activation_bytes", "activation\nmemory"),
                 ("output_channels", "output\nchannels")]
        width = 0.38
        for i, kind in enumerate(PAIRS):
            values = [1 / self.ratio(kind, w) for w, _ in whats]
            bars = left.bar([j + (i - 0.5) * width for j in range(len(whats))], values, width,
                            label=f"{SAID[kind][0]} / {SAID[kind][1]}")
            left.bar_label(bars, [f"{v:.2f}" for v in values], fontsize=8)
        left.axhline(1, color="grey", lw=0.8)
        left.set_xticks(range(len(whats)), [label for _, label in whats])
        left.set_ylim(0, 1.25 * max(1.0, *(1 / self.ratio(k, w) for k in PAIRS for w, _ in whats)))
        left.set_ylabel("with 1x1 convolutions / without")
        left.set_title("Cost with 1x1 convolutions, relative to without (papers' sizes)")
        left.legend(fontsize=8, loc="upper left")
        for kind, color in zip(PAIRS, ("tab:blue", "tab:orange")):  # a colour per pair, dashed without 1x1
            for name, style in zip(PAIRS[kind], ("-", "--")):
                t = self.trained[name]
                curve = t["val_acc"] or t["train_acc"]
                right.plot(range(1, len(curve) + 1), [100 * a for a in curve], style, color=color,
                           label=f"{name} ({t['params']:,} params)")
        right.set_xlabel("epoch")
        right.set_ylabel(("validation" if any(t["val_acc"] for t in self.trained.values()) else "training")
                         + " accuracy (%)")
        right.set_title(f"Small networks on {self.data}")
        for ax in (left, right):
            ax.grid(alpha=0.3, axis="y" if ax is left else "both")
        right.legend(fontsize=8)
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "data": self.data, "seed": self.seed, "counts": self.counts,
                "ratios_without_over_with": {k: {w: self.ratio(k, w) for w in
                                                 ("params", "macs", "activation_bytes", "output_channels")}
                                             for k in PAIRS},
                "trained": self.trained, "accuracy_change": {k: self.accuracy_change(k) for k in PAIRS},
                "finding": self.finding(), "environment": self.environment}

