"""dropout (the course's "ConvNets for newcomers", file 002 L93 and L127, and its recurrent chapter,
file 003 L470: "the Dropout technique is used to reduce the amount of Overfitting").

The course's CIFAR-10 CNN (`cifar_dropout_convnet`: dropout 0.25 after each pooling and 0.5 after
the dense layer, the text's `drop_prob_1` and `drop_prob_2`) is trained twice from the same weights
and batches, once as the course builds it and once with both rates at 0. After every epoch both
are measured in evaluation mode (no dropout) on the training examples and on the validation split:
the training curve falls towards zero either way, and the distance between the two curves is the
overfitting. The claim holds when the network without dropout ends with the larger gap between its
validation and training loss.

Default (offline, about half a minute on 2 CPU cores): digits at their own 8x8 (the network's
flattened size follows the input), 300 training examples (few examples overfit sooner), 40 epochs
of Adam at the course's rate 0.001 and batch 32, inputs divided by the training maximum as the
course does. The course's setting: `--data cifar10 --train-size 0 --epochs 200` (see the guide).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import UserError, check_range
from .common import (
    SplitProbe,
    check_common,
    check_image_data,
    device_for,
    environment,
    image_data,
    one_thread,
    pyplot,
    save_figure,
)

RUNS = {"with dropout": (0.25, 0.5), "without dropout": (0.0, 0.0)}  # drop_prob_1, drop_prob_2


@dataclass
class DropoutStudy:
    epochs: int = 40            # passes over the training examples
    train_size: int = 300       # training examples, a seeded sample of the training split (0: all of it)
    data: str = "digits"        # image data set; the course's is cifar10
    lr: float = 1e-3            # Adam's learning rate per step (the course's Keras default), constant
    batch_size: int = 32        # examples per step (the course's)
    seed: int = 0               # weights, the sample, data order, dropout masks
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # run -> train_loss, val_loss, ...
    sizes: dict[str, int] = field(default_factory=dict)                     # train, val examples
    params: int = 0
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> DropoutStudy:
        check_common(self, counts=("batch_size",))
        check_image_data(self.data, "dropout")
        check_range("train_size", self.train_size, 0, None)
        check_range("lr", self.lr, 0, None, low_open=True)
        return self

    def _splits(self, data):
        """(train, val): a seeded sample of `train_size` training examples, and the data set's
        validation split (or, without one, the last 10% of the sample, as the course's Keras
        `validation_split=0.1`)."""
        train = data.train
        if self.train_size:
            if self.train_size > len(train):
                raise UserError(f"--train-size {self.train_size} is more than the {len(train):,} training "
                                f"examples of {self.data}; use at most that, or 0 for all of them")
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.seed))
            train = train.subset(order[:self.train_size].sort().values)
        if data.val is not None:
            return train, data.val
        cut = int(len(train) * 0.9)
        if cut < 1 or cut == len(train):
            raise UserError(f"--train-size {self.train_size} is too small to hold out 10% for validation")
        index = torch.arange(len(train))
        return train.subset(index[:cut]), train.subset(index[cut:])

    def run(self, log=print, callbacks=()) -> DropoutStudy:
        from ..train import TrainConfig
        from ..train.engine import fit
        from ..zoo import create

        self.validate()
        data = image_data(self.data, "dropout")
        train, val = self._splits(data)
        self.sizes = {"train": len(train), "val": len(val)}
        norm = data.normalization("max")  # the course: x / max(x_train)
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adam", lr=self.lr,
                             schedule="constant", normalize="max", seed=self.seed,
                             device=device_for(self.data == "digits"))
        c, h, w = data.input_shape
        with one_thread(small=self.data == "digits"):
            self.environment = environment(config.device)
            for name, (p1, p2) in RUNS.items():
                model = create("cifar_dropout_convnet", seed=self.seed, num_classes=data.num_classes,
                               in_channels=c, input_size=(h, w), drop_prob_1=p1, drop_prob_2=p2)
                self.params = sum(p.numel() for p in model.parameters())
                log(f"Training cifar_dropout_convnet {name} (drop_prob_1={p1:g}, drop_prob_2={p2:g}) on "
                    f"{self.sizes['train']:,} {self.data} examples for {self.epochs} epochs")
                on_train, on_val = SplitProbe(train, norm), SplitProbe(val, norm)
                history = fit(model, train, config, validation_data=val, normalization=norm,
                              callbacks=[*callbacks, on_train, on_val])
                self.curves[name] = {"train_loss": on_train.loss, "train_acc": on_train.acc,
                                     "val_loss": on_val.loss, "val_acc": on_val.acc,
                                     "loss_while_training": history.history["loss"]}
        return self

    def gap(self, name: str) -> float:
        """Validation loss minus training loss (both in evaluation mode) after the last epoch."""
        c = self.curves[name]
        return c["val_loss"][-1] - c["train_loss"][-1]

    def finding(self) -> str:
        w, wo = (self.curves[n] for n in RUNS)
        holds = self.gap("without dropout") > self.gap("with dropout")
        return (f"after {self.epochs} epochs the validation loss exceeds the training loss by "
                f"{self.gap('without dropout'):.3f} without dropout and by {self.gap('with dropout'):.3f} with it "
                f"(validation accuracy {wo['val_acc'][-1]:.1%} against {w['val_acc'][-1]:.1%}; lowest validation "
                f"loss {min(wo['val_loss']):.3f} against {min(w['val_loss']):.3f}): "
                + ("dropout reduced the overfitting" if holds else "dropout did not reduce the gap in this setting"))

    def table(self):
        from rich.table import Table

        table = Table(title=f"cifar_dropout_convnet on {self.sizes['train']:,} {self.data} examples "
                            f"(val {self.sizes['val']:,}), evaluation mode", title_justify="left")
        table.add_column("epoch", justify="right", no_wrap=True)
        for name in RUNS:
            short = "dropout" if name == "with dropout" else "none"
            for col in ("train loss", "val loss", "val acc"):
                table.add_column(f"{short}\n{col}", justify="right", no_wrap=True)
        shown = sorted({0, *range(self.epochs // 5 - 1, self.epochs, max(1, self.epochs // 5)), self.epochs - 1})
        for e in shown:
            row = [str(e + 1)]
            for name in RUNS:
                c = self.curves[name]
                row += [f"{c['train_loss'][e]:.3f}", f"{c['val_loss'][e]:.3f}", f"{c['val_acc'][e]:.1%}"]
            table.add_row(*row)
        table.add_row("gap", *(v for name in RUNS for v in ("", f"{self.gap(name):+.3f}", "")))
        return table

    def plot(self, path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        epochs = range(1, self.epochs + 1)
        for (name, c), color in zip(self.curves.items(), ("tab:blue", "tab:red")):
            for ax, metric, scale in ((axes[0], "loss", 1), (axes[1], "acc", 100)):
                ax.plot(epochs, [scale * v for v in c[f"train_{metric}"]], "-", color=color,
                        label=f"{name}: training")
                ax.plot(epochs, [scale * v for v in c[f"val_{metric}"]], "--", color=color,
                        label=f"{name}: validation" + (f" (gap {self.gap(name):.3f})" if metric == "loss" else ""))
        axes[0].set_ylabel("loss (evaluation mode)")
        axes[0].set_yscale("log")
        axes[1].set_ylabel("accuracy (%)")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        fig.suptitle(f"Dropout and overfitting: the course's CIFAR CNN on {self.sizes['train']:,} {self.data} examples")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "train_size": self.train_size, "data": self.data, "lr": self.lr,
                "batch_size": self.batch_size, "seed": self.seed, "optimizer": "adam", "normalize": "max",
                "sizes": self.sizes, "params": self.params,
                "drop_probs": {k: list(v) for k, v in RUNS.items()}, "curves": self.curves,
                "gap": {n: self.gap(n) for n in RUNS}, "finding": self.finding(), "environment": self.environment}
