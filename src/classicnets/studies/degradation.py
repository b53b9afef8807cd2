"""degradation (the course's ResNet chapter, file 001 L18; He et al. 2015, section 4.2 and figure 6):
"additional layers in a deep model lead to higher training errors (training not testing)".

Plain networks (`plainN`: the CIFAR ResNets with every shortcut left out, the same layers and the
same parameter count) and residual ones (`resnetN`, option A shortcuts) are trained at two depths
from the same seed with the same settings, and their *training* error is recorded per epoch (the
running error over each epoch, as the paper's thin curves). The claim holds when the deeper plain
network ends with a clearly higher training error than the shallower one while the deeper residual
network does not.

Default (offline, about a minute on 2 CPU cores): scikit-learn's 8x8 digits, depths 20 and 56,
first-stage width 8 (the paper's 16), 12 epochs of SGD (lr 0.1, momentum 0.9, weight decay 1e-4,
batch 64, constant rate). The paper's setting: `--data cifar10 --width 16` (see the user guide).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError
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

KINDS = {"plain": "plain", "resnet": "residual"}
DEPTHS = (20, 32, 44, 56, 110)  # the registered CIFAR depths


@dataclass
class Degradation:
    depths: tuple[int, ...] = (20, 56)  # network depths 6n+2 compared, shallow first (20, 32, 44, 56, 110)
    width: int = 8                      # filters of the first stage (the paper's 16); the stages have 1x, 2x, 4x
    epochs: int = 12                    # passes over the training split
    data: str = "digits"                # image data set; the paper's is cifar10
    lr: float = 0.1                     # SGD learning rate per step (momentum 0.9, weight decay 1e-4, constant)
    batch_size: int = 64                # examples per step
    seed: int = 0                       # weights, data order
    train_error: dict[str, list[float]] = field(default_factory=dict)  # "plain56" -> error per epoch
    val_error: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> Degradation:
        check_common(self, counts=("width", "batch_size"))
        check_image_data(self.data, "degradation")
        if not self.lr > 0:
            raise UserError(f"--lr must be greater than 0; got {self.lr}")
        depths = tuple(self.depths)
        if len(depths) != 2 or depths[0] >= depths[1] or any(d not in DEPTHS for d in depths):
            raise UserError(f"--depths takes two CIFAR depths, shallow first, from {', '.join(map(str, DEPTHS))}; "
                            f"got {','.join(map(str, depths))}")
        return self

    def names(self) -> list[str]:
        return [f"{kind}{d}" for kind in KINDS for d in self.depths]

    def run(self, log=print, callbacks=()) -> Degradation:
        from ..train import TrainConfig
        from ..train.engine import fit
        from ..zoo import create

        self.validate()
        data = image_data(self.data, "degradation")
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="sgd", lr=self.lr,
                             momentum=0.9, weight_decay=1e-4, schedule="constant", seed=self.seed,
                             device=device_for(self.data == "digits"))
        with one_thread(small=self.data == "digits"):
            self.environment = environment(config.device)
            for name in self.names():
                model = create(name, seed=self.seed, num_classes=data.num_classes,
                               in_channels=data.input_shape[0], width=self.width)
                self.params[name] = sum(p.numel() for p in model.parameters())
                log(f"Training {name} (width {self.width}, {self.params[name]:,} parameters) on {self.data} "
                    f"for {self.epochs} epochs")
                clock = EpochClock()
                history = fit(model, data, config, callbacks=[*callbacks, clock])
                self.train_error[name] = [1 - a for a in history.history["acc"]]
                if "val_acc" in history.history:
                    self.val_error[name] = [1 - a for a in history.history["val_acc"]]
                self.seconds[name] = sum(clock.seconds)
        return self

    def final(self, name: str) -> float:
        return self.train_error[name][-1]

    def gaps(self) -> dict[str, float]:
        """Final training error of the deeper network minus the shallower's, per kind (plain, resnet)."""
        lo, hi = self.depths
        return {kind: self.final(f"{kind}{hi}") - self.final(f"{kind}{lo}") for kind in KINDS}

    def finding(self) -> str:
        lo, hi = self.depths
        g = self.gaps()
        holds = g["plain"] > 0 and g["plain"] > 2 * max(g["resnet"], 0)
        return (f"final training error: plain-{hi} {self.final(f'plain{hi}'):.1%} against plain-{lo} "
                f"{self.final(f'plain{lo}'):.1%} ({100 * g['plain']:+.1f} points); resnet-{hi} "
                f"{self.final(f'resnet{hi}'):.1%} against resnet-{lo} {self.final(f'resnet{lo}'):.1%} "
                f"({100 * g['resnet']:+.1f} points): "
                + ("the deeper plain network trains worse, the deeper residual one does not degrade like it"
                   if holds else "the claim does not show in this setting"))

    def table(self):
        from rich.table import Table

        table = Table(title=f"Training error per epoch on {self.data} (width {self.width}, seed {self.seed}; "
                            f"val: validation error at the end)", title_justify="left")
        table.add_column("network", no_wrap=True)
        table.add_column("params", justify="right", no_wrap=True)
        shown = sorted({0, *range(self.epochs // 4, self.epochs, max(1, self.epochs // 4)), self.epochs - 1})
        for e in shown:
            table.add_column(f"ep {e + 1}", justify="right", no_wrap=True)
        if self.val_error:
            table.add_column("val", justify="right", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        for name in self.names():
            row = [name, f"{self.params[name]:,}", *(f"{self.train_error[name][e]:.1%}" for e in shown)]
            if self.val_error:
                row.append(f"{self.val_error[name][-1]:.1%}")
            table.add_row(*row, f"{self.seconds[name]:.0f} s")
        return table

    def plot(self, path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        epochs = range(1, self.epochs + 1)
        for ax, kind in zip(axes, KINDS):
            for d, style in zip(self.depths, ("--", "-")):  # the deeper one solid, as in the paper's figure 6
                name = f"{kind}{d}"
                ax.plot(epochs, [100 * e for e in self.train_error[name]], style, lw=2,
                        label=f"{kind}-{d} (final {self.final(name):.1%})")
            ax.set_title(f"{KINDS[kind]} networks")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        axes[0].set_ylabel("training error (%)")
        fig.suptitle(f"Degradation: training error on {self.data} (width {self.width}, seed {self.seed})")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"depths": list(self.depths), "width": self.width, "epochs": self.epochs, "data": self.data,
                "lr": self.lr, "batch_size": self.batch_size, "seed": self.seed, "optimizer": "sgd",
                "momentum": 0.9, "weight_decay": 1e-4, "schedule": "constant",
                "params": self.params, "seconds": self.seconds, "train_error": self.train_error,
                "val_error": self.val_error, "final_train_error": {n: self.final(n) for n in self.names()},
                "gaps": self.gaps(), "finding": self.finding(), "environment": self.environment}
