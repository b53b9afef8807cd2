"""dense-vs-conv (the course's "ConvNets part 1", file 004 L14): "the accuracy of Dense Feed Forward
Networks does not keep improving as more hidden layers are added, usually max-ing out at 4 to 5
layers. ConvNets however improve their accuracy with more hidden layers".

Dense networks and ConvNets are trained at the same depths with the same budget (optimizer, schedule,
batches, epochs, seed), built alike: every hidden layer is weights, BatchNorm, ReLU.

- dense: flattened pixels, `depth` fully connected layers of `dense_width` units, a dense output;
- conv: `depth` 3x3 convolutions of `width` filters ('same' padding, no pooling), global average
  pooling, a dense output.

Validation accuracy (and test accuracy) after the last epoch, per depth. What depth buys differs:
a dense layer sees every pixel from the first layer on, so more layers only add capacity to a model
that already fits its training set; a ConvNet's first layer sees 3x3 patches and each further layer
widens its view by 2 pixels, so depth builds features of larger and larger parts of the image (at 8x8,
from 4 layers on, of the whole digit). The claim holds when the deepest ConvNet clearly beats the
shallowest while the dense networks gain nothing past their best shallow depth.

Default (offline, about a minute on 2 CPU cores): digits, depths 1, 2, 3, 4, 6, 8; 16 filters, 128
dense units; 20 epochs of the project's default training (Adam, one-cycle schedule peaking at lr
0.003, batch 64).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

from ..errors import UserError, check_range
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

KINDS = {"dense": "dense networks", "conv": "ConvNets"}


def dense_network(depth: int, width: int, input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    """Flatten, `depth` x (Linear, BatchNorm, ReLU), Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    n = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(n, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
        n = width
    return nn.Sequential(*layers, nn.Linear(n, num_classes))


def conv_network(depth: int, width: int, in_channels: int, num_classes: int) -> nn.Sequential:
    """`depth` x (3x3 convolution 'same', BatchNorm, ReLU), global average pooling, Linear."""
    from ..blocks import conv_bn_act

    layers = [conv_bn_act(in_channels if i == 0 else width, width, 3) for i in range(depth)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


@dataclass
class DenseVsConv:
    depths: tuple[int, ...] = (1, 2, 3, 4, 6, 8)  # hidden layers of each network
    width: int = 16              # filters of every convolution
    dense_width: int = 128       # units of every dense hidden layer
    epochs: int = 20             # passes over the training split, the same for every network
    lr: float = 3e-3             # Adam's peak learning rate (one-cycle schedule)
    data: str = "digits"         # image data set
    seed: int = 0                # weights, data order
    val_acc: dict[str, dict[int, float]] = field(default_factory=dict)   # kind -> depth -> after the last epoch
    test_acc: dict[str, dict[int, float]] = field(default_factory=dict)
    train_acc: dict[str, dict[int, float]] = field(default_factory=dict)  # running accuracy of the last epoch
    curves: dict[str, dict[int, list[float]]] = field(default_factory=dict)  # kind -> depth -> val_acc per epoch
    params: dict[str, dict[int, int]] = field(default_factory=dict)
    seconds: dict[str, dict[int, float]] = field(default_factory=dict)    # per epoch
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> DenseVsConv:
        check_common(self, counts=("width", "dense_width"))
        check_image_data(self.data, "dense-vs-conv")
        check_range("lr", self.lr, 0, None, low_open=True)
        depths = tuple(self.depths)
        if len(depths) < 2 or any(d < 1 for d in depths) or list(depths) != sorted(set(depths)):
            raise UserError(f"--depths takes at least two increasing layer counts, e.g. 1,2,4,8; "
                            f"got {','.join(map(str, depths))}")
        return self

    def run(self, log=print, callbacks=()) -> DenseVsConv:
        from ..train import TrainConfig
        from ..train.engine import fit
        from ..train.evaluation import evaluate

        self.validate()
        data = image_data(self.data, "dense-vs-conv")
        small = self.data == "digits"
        config = TrainConfig(epochs=self.epochs, lr=self.lr, seed=self.seed, device=device_for(small))
        with one_thread(small=small):
            self.environment = environment(config.device)
            for kind in KINDS:
                for depth in self.depths:
                    model = self._model(kind, depth, data)
                    n = sum(p.numel() for p in model.parameters())
                    self.params.setdefault(kind, {})[depth] = n
                    log(f"Training a {kind} network of {depth} hidden layers ({n:,} parameters) on {self.data} "
                        f"for {self.epochs} epochs")
                    clock = EpochClock()
                    history = fit(model, data, config, callbacks=[*callbacks, clock]).history
                    self.curves.setdefault(kind, {})[depth] = history.get("val_acc", [])
                    self.val_acc.setdefault(kind, {})[depth] = history["val_acc"][-1] if "val_acc" in history \
                        else math.nan
                    self.train_acc.setdefault(kind, {})[depth] = history["acc"][-1]
                    self.test_acc.setdefault(kind, {})[depth] = evaluate(model, data)["acc"] \
                        if data.test is not None else math.nan
                    self.seconds.setdefault(kind, {})[depth] = sum(clock.seconds) / len(clock.seconds)
        return self

    def _model(self, kind: str, depth: int, data) -> nn.Module:
        import torch

        with torch.random.fork_rng(devices=[]):  # the same draws whatever was built before
            torch.manual_seed(self.seed)
            if kind == "dense":
                return dense_network(depth, self.dense_width, data.input_shape, data.num_classes)
            return conv_network(depth, self.width, data.input_shape[0], data.num_classes)

    def best_depth(self, kind: str) -> int:
        """The shallowest depth reaching the kind's highest validation accuracy."""
        acc = self.val_acc[kind]
        return min(d for d in self.depths if acc[d] == max(acc.values()))

    def gain(self, kind: str) -> float:
        """Validation accuracy of the deepest network minus the shallowest's."""
        acc = self.val_acc[kind]
        return acc[max(self.depths)] - acc[min(self.depths)]

    def finding(self) -> str:
        d = self.val_acc["dense"]
        past = [x for x in self.depths if x > self.best_depth("dense")]
        dense_flat = not past or max(d[x] for x in past) <= d[self.best_depth("dense")]
        holds = self.gain("conv") > 0.05 and self.gain("conv") > self.gain("dense") + 0.05 and dense_flat
        return (f"validation accuracy by hidden layers, dense networks: {self._path('dense')}; ConvNets: "
                f"{self._path('conv')}: " + ("depth stops paying for the dense networks after a few layers and "
                                              "keeps paying for the ConvNets" if holds
                                              else "the claim does not show in this setting"))

    def _path(self, kind: str) -> str:
        """'97.2% at 1, best 98.9% at 4, 98.3% at 8' (the best left out where it is the first or the last)."""
        acc, lo, hi, best = self.val_acc[kind], min(self.depths), max(self.depths), self.best_depth(kind)
        marks = [lo, *([best] if best not in (lo, hi) else []), hi]
        return ", ".join(f"{'best ' if x == best else ''}{acc[x]:.1%} at {x}" for x in marks)

    def table(self):
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Accuracy after {self.epochs} epochs on {self.data} by hidden layers (seed {self.seed}; "
                            f"conv: {self.width} filters, dense: {self.dense_width} units)", title_justify="left")
        table.add_column("layers", justify="right", no_wrap=True)
        for kind in KINDS:
            for col in ("params", "train", "val", "test", "s/epoch"):
                table.add_column(f"{kind}\n{col}", justify="right", no_wrap=True)
        for depth in self.depths:
            row = [str(depth)]
            for kind in KINDS:
                best = depth == self.best_depth(kind)
                val = f"{self.val_acc[kind][depth]:.1%}"
                row += [f"{self.params[kind][depth]:,}", f"{self.train_acc[kind][depth]:.1%}",
                        Text(val, style="bold") if best else val, f"{self.test_acc[kind][depth]:.1%}",
                        f"{self.seconds[kind][depth]:.2f}"]
            table.add_row(*row)
        return table

    def plot(self, path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
        for kind, color in zip(KINDS, ("tab:orange", "tab:blue")):
            for split, style in (("val", "o-"), ("test", "s--")):
                acc = getattr(self, f"{split}_acc")[kind]
                left.plot(self.depths, [100 * acc[d] for d in self.depths], style, color=color,
                          label=f"{KINDS[kind]}, {'validation' if split == 'val' else 'test'}")
            for depth in (min(self.depths), max(self.depths)):
                curve = self.curves[kind][depth]
                right.plot(range(1, len(curve) + 1), [100 * a for a in curve], "-" if depth > 1 else ":",
                           color=color, label=f"{KINDS[kind]}, {depth} layer{'s' * (depth > 1)}")
        left.set_xlabel("hidden layers")
        left.set_ylabel("accuracy after the last epoch (%)")
        left.set_xticks(self.depths)
        left.set_title(f"Accuracy by depth on {self.data}")
        right.set_xlabel("epoch")
        right.set_ylabel("validation accuracy (%)")
        right.set_title("The shallowest and the deepest, per epoch")
        for ax in (left, right):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"depths": list(self.depths), "width": self.width, "dense_width": self.dense_width,
                "epochs": self.epochs, "lr": self.lr, "optimizer": "adam", "schedule": "onecycle", "batch_size": 64,
                "data": self.data, "seed": self.seed, "params": self.params, "train_acc": self.train_acc,
                "val_acc": self.val_acc, "test_acc": self.test_acc, "val_acc_per_epoch": self.curves,
                "seconds_per_epoch": self.seconds, "best_depth": {k: self.best_depth(k) for k in KINDS},
                "gain": {k: self.gain(k) for k in KINDS}, "finding": self.finding(), "environment": self.environment}
