"""highway (the course's Large ConvNets chapter, file 000 L193, after the highway layer's code: "With
this kind of network you can train models with hundreds of layers"; Srivastava, Greff & Schmidhuber
2015, "Training very deep networks", figure 1).

Plain and highway fully connected networks of the same width are trained at several depths with the
same optimizer, batches and number of steps, and their training loss is compared:

- plain: `mlp` with `depth` hidden layers of ReLU units and no dropout, sqrt(2) times wider (71
  units against 50) so that both kinds have about the same parameters (a highway layer has two
  weight matrices), initialised with He et al. 2015's normal initialisation (variance 2 / fan-in,
  zero biases), the one that keeps a plain ReLU stack's signal from shrinking layer by layer;
- highway: `highway`, a dense layer to `width` units then `depth` highway layers
  y = H(x) T(x) + x (1 - T(x)), the transform gate's bias at `carry_bias`.

SGD with momentum 0.9, batch 64, constant rate, for `epochs` passes over the training split; each
network is trained once per learning rate in `lrs` and keeps its best (the paper searched each
network's hyperparameters; a plain network that cannot train at one rate gets the others). Chance
is ln 10 = 2.303 for ten classes. The claim holds when at the deepest depth the highway network
reaches a low training loss and the plain one stays near chance.

The carry bias: a highway layer at initialisation passes on (1 - T) of its input, about
1 - sigmoid(carry_bias), so a stack of `depth` layers passes (1 - sigmoid(b))^depth: at depth 100,
0.2% at b = -2 (the paper's value for its MNIST networks), 0.8% at -3, 16% at -4. The deeper the
stack, the more negative the bias must start; -4 (default) trains all three depths here.

Default (offline, one to two minutes on 2 CPU cores): digits, depths 10, 50 and 100, width 50
(the paper's), 10 epochs (200 steps), learning rates 0.003, 0.01 and 0.03.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

from ..errors import UserError, check_range
from .common import (
    StepLosses,
    check_common,
    check_image_data,
    device_for,
    environment,
    image_data,
    one_thread,
    pyplot,
    save_figure,
)

KINDS = ("plain", "highway")
CHANCE = math.log(10)


def he_init(model: nn.Module) -> nn.Module:
    """The paper's plain networks: He et al.'s normal initialisation (variance 2 / fan-in), zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


@dataclass
class HighwayDepth:
    depths: tuple[int, ...] = (10, 50, 100)   # layers of each network (plain: hidden layers; highway: highway layers)
    width: int = 50                           # units per highway layer (the paper's 50); plain: sqrt(2) x width
    epochs: int = 10                          # passes over the training split (digits: 20 steps each)
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03)  # SGD learning rates tried for each network; the best is kept
    carry_bias: float = -4.0                  # initial bias of the highway layers' transform gates
    data: str = "digits"                      # image data set; the paper's is mnist
    batch_size: int = 64                      # examples per step
    seed: int = 0                             # weights, data order
    losses: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # "plain100" -> lr -> loss per step
    final: dict[str, dict[str, float]] = field(default_factory=dict)         # "plain100" -> lr -> last epoch's loss
    params: dict[str, int] = field(default_factory=dict)
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> HighwayDepth:
        check_common(self, counts=("width", "batch_size"))
        check_image_data(self.data, "highway")
        depths = tuple(self.depths)
        if not depths or any(d < 1 for d in depths) or list(depths) != sorted(set(depths)):
            raise UserError(f"--depths takes increasing layer counts of at least 1, e.g. 10,50,100; "
                            f"got {','.join(map(str, depths))}")
        if not self.lrs:
            raise UserError("give at least one learning rate")
        for lr in self.lrs:
            check_range("lr", lr, 0, None, low_open=True)
        return self

    @property
    def plain_width(self) -> int:
        """Units of the plain layers: about a highway layer's parameters (two width x width matrices)."""
        return round(self.width * math.sqrt(2))

    def networks(self) -> list[tuple[str, int]]:
        return [(kind, d) for d in self.depths for kind in KINDS]

    def names(self) -> list[str]:
        return [f"{kind}{d}" for kind, d in self.networks()]

    def _model(self, kind: str, depth: int, data):
        from ..zoo import create

        c, h, w = data.input_shape
        common = dict(seed=self.seed, num_classes=data.num_classes, in_channels=c, input_size=(h, w))
        if kind == "plain":
            return he_init(create("mlp", **common, layers=depth, hidden=self.plain_width, dropout=0.0))
        return create("highway", **common, depth=depth, width=self.width, carry_bias=self.carry_bias)

    def run(self, log=print, callbacks=()) -> HighwayDepth:
        from ..train import TrainConfig
        from ..train.engine import fit

        self.validate()
        data = image_data(self.data, "highway")
        small = self.data == "digits"
        with one_thread(small=small):
            self.environment = environment(device_for(small))
            for kind, depth in self.networks():
                name = f"{kind}{depth}"
                for lr in self.lrs:
                    model = self._model(kind, depth, data)
                    self.params[name] = sum(p.numel() for p in model.parameters())
                    log(f"Training {kind} depth {depth} ({self.params[name]:,} parameters) at lr {lr:g} on {self.data} "
                        f"for {self.epochs} epochs")
                    config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="sgd", lr=lr,
                                         momentum=0.9, schedule="constant", seed=self.seed, device=device_for(small))
                    steps = StepLosses()
                    try:
                        history = fit(model, data, config, callbacks=[*callbacks, steps])
                        last = history.history["loss"][-1]
                    except UserError:  # the loss became non-finite: this rate diverged
                        last = math.inf
                    self.losses.setdefault(name, {})[f"{lr:g}"] = steps.losses
                    self.final.setdefault(name, {})[f"{lr:g}"] = last
        return self

    def best(self, name: str) -> tuple[str, float]:
        """(learning rate, last epoch's training loss) of the network's best rate."""
        return min(self.final[name].items(), key=lambda kv: kv[1])

    def finding(self) -> str:
        deep, shallow = max(self.depths), min(self.depths)
        parts = [f"depth {d}: plain {self.best(f'plain{d}')[1]:.3f}, highway {self.best(f'highway{d}')[1]:.3f}"
                 for d in self.depths]
        plain, highway = self.best(f"plain{deep}")[1], self.best(f"highway{deep}")[1]
        holds = highway < 0.5 and plain > 1.0 and self.best(f"plain{shallow}")[1] < 0.5
        return (f"training loss after {self.epochs} epochs, each network at its best learning rate (chance "
                f"{CHANCE:.3f}): " + "; ".join(parts) + ": "
                + (f"at depth {deep} the highway network trains and the plain one stays far from it"
                   if holds else "the claim does not show in this setting"))

    def table(self):
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Training loss of the last epoch on {self.data} after {self.epochs} epochs (SGD, "
                            f"momentum 0.9, width {self.width} highway, {self.plain_width} plain, carry bias "
                            f"{self.carry_bias:g}; chance {CHANCE:.3f}); best per network in bold",
                      title_justify="left")
        table.add_column("network", no_wrap=True)
        table.add_column("params", justify="right", no_wrap=True)
        for lr in self.lrs:
            table.add_column(f"lr {lr:g}", justify="right", no_wrap=True)
        for name in self.names():
            best = self.best(name)[0]
            table.add_row(name, f"{self.params[name]:,}",
                          *(Text(f"{v:.3f}", style="bold") if k == best else f"{v:.3f}" for k, v in self.final[name].items()))
        return table

    def plot(self, path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, len(self.depths), figsize=(5 * len(self.depths), 4), sharey=True, squeeze=False)
        for ax, d in zip(axes[0], self.depths):
            for kind, color in zip(KINDS, ("tab:grey", "tab:blue")):
                lr, last = self.best(f"{kind}{d}")
                curve = self.losses[f"{kind}{d}"][lr]
                ax.plot(range(1, len(curve) + 1), curve, color=color, lw=1,
                        label=f"{kind} (lr {lr}, last epoch {last:.3f})")
            ax.axhline(CHANCE, color="grey", ls="--", lw=0.8, label="chance (ln 10)")
            ax.set_title(f"{d} layers")
            ax.set_xlabel("SGD step")
            ax.set_ylim(0, 3)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        axes[0][0].set_ylabel("training loss per step")
        fig.suptitle(f"Plain and highway networks on {self.data}, each at its best learning rate")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"depths": list(self.depths), "width": self.width, "epochs": self.epochs, "lrs": list(self.lrs),
                "carry_bias": self.carry_bias, "data": self.data, "batch_size": self.batch_size, "seed": self.seed,
                "plain_width": self.plain_width, "optimizer": "sgd", "momentum": 0.9, "schedule": "constant",
                "plain_init": "he_normal",
                "params": self.params, "final_loss": self.final, "losses": self.losses,
                "best": {n: dict(zip(("lr", "loss"), self.best(n))) for n in self.names()},
                "finding": self.finding(), "environment": self.environment}
