"""conv-cost (the course's "ConvNets part 1", file 004 L450 and L566-578): "the execution time of the
ConvNet model is about 4 ms/step ... In comparison the execution time for a two layer Dense Feed
Forward model ... was about 40 microsec/step", and the reason: a convolution layer needs
Mult = F_r F_r D_r x W_(r+1) H_(r+1) x D_(r+1) multiplications, a dense layer D_r D_(r+1), larger "by a
multiplicative factor equal to F_r F_r x W_(r+1) H_(r+1)".

Both networks the course compares, timed on the same data in this process: the CIFAR-10 ConvNet of
the chapter (`cifar_convnet`, the `cifar10_convnet` recipe) and a two-layer dense network
(`mlp`, 3072-512-512-10, the `cifar10_dense` recipe's stand-in for the chapter the course cites).
A step is what the course times: forward, loss, backward and the optimizer's update (RMSprop, both
recipes' optimizer) on one batch of `batch_size` random 32x32x3 images, the same batch for both.
After `warmup` steps, `repeats` steps of each are timed, alternating so that a change in the
machine's load reaches both; the median is reported with the quartiles. On the CPU the study runs on
one thread: the time is then the arithmetic's, not that of handing work between threads, and it is
steadier on a shared machine (measured on 2 busy cores: dense step quartiles 23-39 ms on one thread,
56-398 ms on two).

Multiply-adds per example come from `classicnets.inspect.summarize`, and each convolution layer's is
set beside the course's formula and beside the "roughly equivalent" dense layer (D_r x D_(r+1)).

The times depend on the machine: the JSON records it (see `common.environment`), and the test
checks only the multiply-adds. The course's 4 ms and 40 us were measured with Keras on a GPU, where
the small dense step is bound by kernel launches rather than arithmetic.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import check_range
from .common import check_common, environment, one_thread, pyplot, save_figure

NETWORKS = {"conv": ("cifar_convnet", {}), "dense": ("mlp", {"in_channels": 3, "input_size": 32})}
SAID = {"conv": "the CIFAR-10 ConvNet (cifar_convnet)", "dense": "the two-layer dense network (mlp)"}
COURSE_SECONDS = {"conv": 4e-3, "dense": 40e-6}  # 004 L450
INPUT = (3, 32, 32)


@dataclass
class ConvCost:
    batch_size: int = 128       # images per step (both course recipes' batch)
    repeats: int = 20           # timed steps of each network
    warmup: int = 3             # untimed steps first (allocations, kernel selection)
    device: str = "cpu"         # "cpu" or "cuda"; CUDA steps are timed with synchronisation
    seed: int = 0               # the weights and the batch
    counts: dict[str, dict] = field(default_factory=dict)           # network -> params, macs, layers
    seconds: dict[str, list[float]] = field(default_factory=dict)   # network -> seconds per timed step
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> ConvCost:
        check_common(self, counts=("batch_size", "repeats"))
        check_range("warmup", self.warmup, 0, None)
        if self.device not in ("cpu", "cuda"):
            from ..errors import UserError
            raise UserError(f"device must be cpu or cuda; got {self.device!r}")
        return self

    def run(self, log=print, callbacks=()) -> ConvCost:
        self.validate()
        with one_thread(small=self.device == "cpu"):
            self.environment = environment(self.device)
            self._time(log)
        return self

    def _time(self, log) -> None:
        from ..inspect import summarize
        from ..zoo import create

        device = torch.device(self.device)
        g = torch.Generator().manual_seed(self.seed)
        x = torch.rand(self.batch_size, *INPUT, generator=g).to(device)
        y = torch.randint(0, 10, (self.batch_size,), generator=g).to(device)
        models, steps = {}, {}
        for kind, (name, args) in NETWORKS.items():
            model = create(name, seed=self.seed, num_classes=10, **args)
            s = summarize(model, INPUT)
            self.counts[kind] = {"model": name, "params": s.total_params, "macs": s.macs, "layers": _layers(model, s)}
            models[kind] = model.to(device).train()
            steps[kind] = _step(models[kind], x, y)
        log(f"Timing one training step on {self.batch_size} images: {self.warmup} warm-up and {self.repeats} timed "
            f"steps of each network, on {self.where()}")
        for kind in NETWORKS:
            for _ in range(self.warmup):
                steps[kind]()
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.seconds = {kind: [] for kind in NETWORKS}
        for _ in range(self.repeats):
            for kind in NETWORKS:  # alternating: a change of load reaches both
                sync()
                start = time.perf_counter()
                steps[kind]()
                sync()
                self.seconds[kind].append(time.perf_counter() - start)

    def where(self) -> str:
        """'cpu (AMD EPYC, 1 thread)' or the GPU's name: where the times were taken."""
        env = self.environment
        if env["device"] != "cpu":
            return env["device"]
        return f"cpu ({env['cpu']}, {env['threads']} thread{'s' * (env['threads'] > 1)})"

    def median(self, kind: str) -> float:
        return statistics.median(self.seconds[kind])

    def quartiles(self, kind: str) -> tuple[float, float]:
        q = statistics.quantiles(self.seconds[kind], n=4) if len(self.seconds[kind]) > 1 else [self.median(kind)] * 3
        return q[0], q[2]

    def time_ratio(self) -> float:
        return self.median("conv") / self.median("dense")

    def macs_ratio(self) -> float:
        return self.counts["conv"]["macs"] / self.counts["dense"]["macs"]

    def finding(self) -> str:
        c, d = self.counts["conv"], self.counts["dense"]
        return (f"one step on {self.batch_size} images takes {_ms(self.median('conv'))} for the ConvNet and "
                f"{_ms(self.median('dense'))} for the dense network, {self.time_ratio():.0f}x (the course: 4 ms "
                f"against 40 us on its GPU, 100x), on {self.where()}; per example the ConvNet needs "
                f"{c['macs'] / 1e6:.1f}M multiply-adds with {c['params']:,} parameters, the dense network "
                f"{d['macs'] / 1e6:.2f}M with {d['params']:,}: {self.macs_ratio():.1f}x the arithmetic from fewer "
                f"weights, each used at every position")

    def table(self):
        from rich.console import Group
        from rich.table import Table

        timing = Table(title=f"One training step (forward, backward, RMSprop update) on {self.batch_size} images, "
                             f"{self.repeats} timed; {self.where()}, torch {self.environment['torch']}",
                       title_justify="left")
        for col in ("network", "params", "mult-adds/example", "median step", "quartiles", "the course"):
            timing.add_column(col, justify="left" if col == "network" else "right", no_wrap=True)
        for kind in NETWORKS:
            c, (q1, q3) = self.counts[kind], self.quartiles(kind)
            timing.add_row(SAID[kind], f"{c['params']:,}", f"{c['macs']:,}", _ms(self.median(kind)),
                           f"{_ms(q1)} - {_ms(q3)}", _ms(COURSE_SECONDS[kind]))
        timing.add_row("ConvNet / dense", f"{self.counts['conv']['params'] / self.counts['dense']['params']:.2f}x",
                       f"{self.macs_ratio():.1f}x", f"{self.time_ratio():.1f}x", "", "100x")
        layers = Table(title="The course's count per layer (004 L570: Mult = F F D_r x W H x D_(r+1); a dense "
                             "layer of D_r and D_(r+1) nodes: D_r D_(r+1))", title_justify="left")
        for col in ("layer", "F", "D_r", "W x H", "D_(r+1)", "Mult (formula)", "summarize", "dense D_r D_(r+1)",
                    "factor F F W H"):
            layers.add_column(col, justify="left" if col == "layer" else "right", no_wrap=True)
        for kind in NETWORKS:
            for row in self.counts[kind]["layers"]:
                if row["kind"] == "Conv2d":
                    layers.add_row(f"{kind} {row['name']}", str(row["F"]), str(row["D_in"]),
                                   f"{row['W']}x{row['H']}", str(row["D_out"]), f"{row['formula']:,}",
                                   f"{row['macs']:,}", f"{row['D_in'] * row['D_out']:,}",
                                   f"{row['F'] ** 2 * row['W'] * row['H']:,}")
                else:
                    layers.add_row(f"{kind} {row['name']}", "", str(row["D_in"]), "", str(row["D_out"]),
                                   f"{row['formula']:,}", f"{row['macs']:,}", f"{row['formula']:,}", "1")
        return Group(timing, layers)

    def plot(self, path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
        kinds = list(NETWORKS)
        left.boxplot([[1e3 * s for s in self.seconds[k]] for k in kinds],
                     tick_labels=[f"{k}\n({NETWORKS[k][0]})" for k in kinds])
        left.set_yscale("log")
        left.set_ylabel("milliseconds per step (log scale)")
        left.set_title(f"{self.repeats} timed steps on {self.batch_size} images ({self.where()})")
        for k in kinds:
            names = [r["name"] for r in self.counts[k]["layers"]]
            right.barh([f"{k} {n}" for n in names], [r["macs"] for r in self.counts[k]["layers"]],
                       color="tab:blue" if k == "conv" else "tab:orange", label=SAID[k])
        right.set_xscale("log")
        right.invert_yaxis()
        right.set_xlabel("multiply-adds per example (log scale)")
        right.set_title(f"Arithmetic per layer: {self.macs_ratio():.1f}x in all")
        right.legend(fontsize=8)
        for ax in (left, right):
            ax.grid(alpha=0.3, which="both")
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "repeats": self.repeats, "warmup": self.warmup, "device": self.device,
                "seed": self.seed, "optimizer": "rmsprop", "counts": self.counts, "seconds": self.seconds,
                "median_seconds": {k: self.median(k) for k in NETWORKS}, "time_ratio": self.time_ratio(),
                "macs_ratio": self.macs_ratio(), "course_seconds": COURSE_SECONDS, "finding": self.finding(),
                "environment": self.environment}


def _step(model, x, y):
    """One training step of `model` on (x, y): what the course calls a step."""
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9)  # Keras's rmsprop (rho 0.9)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def _layers(model, summary) -> list[dict]:
    """Each convolution and dense layer: the course's factors, its formula count and summarize's."""
    modules = dict(model.named_modules())
    out = []
    for r in summary.rows:
        m = modules[r.name]
        if isinstance(m, torch.nn.Conv2d):
            (k, _), (_, _, h, w) = m.kernel_size, r.output_shape
            out.append({"name": r.name, "kind": "Conv2d", "F": k, "D_in": m.in_channels, "W": w, "H": h,
                        "D_out": m.out_channels, "formula": k * k * m.in_channels * w * h * m.out_channels,
                        "macs": r.macs})
        elif isinstance(m, torch.nn.Linear):
            out.append({"name": r.name, "kind": "Linear", "D_in": m.in_features, "D_out": m.out_features,
                        "formula": m.in_features * m.out_features, "macs": r.macs})
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"
