"""Does transfer help on digits? The offline demonstration of issue 11, measured in two settings.

The course (file 004 L773): transfer learning "enables us to develop accurate models even without a
lot of training data". A ConvNet is trained on scikit-learn's digits 0-4 (the source); a new head
on its base is trained on digits 5-9 from a few labelled examples per class, and its accuracy on
test digits 5-9 is set beside other networks of the same architecture trained on the same examples
with the same budget:

- `scratch`: randomly initialised, every layer trained (the baseline);
- `frozen`: the 0-4 base frozen, only the new head trained (Keras's method 1/2);
- `random base`: a randomly initialised base frozen the same way, only the head trained: the
  control that tells whether the 0-4 base knows more about 5-9 than untrained filters do;
- `fine-tuned`: the 0-4 base and the new head, every layer trained (method 3, the whole base
  thawed): scratch from a different starting point;
- `scratch+shifts`, `fine-tuned+shifts` (where `shift` > 0): those two again, each step's images
  shifted at random by up to `shift` pixels: can augmentation of the few examples stand in for the
  source, and does the source still help beside it?

Two settings (`DigitsTransfer()` and `DigitsTransfer.centred()`):

- `canvas` (the default): each digit, scaled bilinearly to a random side of 8-20 pixels, is put at
  a random place on a 24x24 canvas with Gaussian pixel noise (std 0.15 of full intensity), the
  variability a camera brings. The source sees 6,300 such canvases of the training digits 0-4; the
  target, one canvas per labelled example; validation and test, 500 and 1,000 canvases of the
  validation and test digits 5-9. The network is `gmp_convnet`: three 3x3 convolution stages with
  global max pooling (Oquab, Bottou, Laptev & Sivic (2015), "Is object localization for free?",
  CVPR), so every row is translation invariant by construction; the new head is `gmp,dense`.
  Here the transferred base wins clearly (docs/guide.md): 15 canvases cannot teach a network
  strokes at every scale through the noise, 6,300 canvases of other digits can.
- `centred`: the plain 8x8 digits, clean and centred, on `lenet` with a `flatten,dense` head. Here
  transfer does *not* win: a LeNet trained from scratch on 15 of these images is already about as
  good as a nearest-centroid classifier on the pixels, and a base trained on five classes knows no
  more about the other five than random filters do.

Each seed draws its own examples, its own source data and network and its own initialisations.
Budgets are fixed (no early stopping, nothing selected on the test digits): full-batch Adam at a
constant rate for `target_steps` steps; each row's rate is the best on the validation digits 5-9
of {1e-3, 3e-3, 1e-2, 3e-2, 1e-1} (canvas) or {1e-3, 3e-3, 1e-2} (centred), chosen once per
setting (docs/guide.md).
Yosinski, Clune, Bengio & Lipson (2014), "How transferable are features in deep neural networks?",
NeurIPS; Chen et al. (2019), "A closer look at few-shot classification", ICLR.

    python -m classicnets.transfer.demo --labels 3 --seeds 5
    python -m classicnets.transfer.demo --setting centred --labels 3 --seeds 5
"""
from __future__ import annotations

import argparse
import copy
import statistics
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError, check_range

ROWS = ("scratch", "frozen", "random base", "fine-tuned")
SHIFTED = ("scratch+shifts", "fine-tuned+shifts")  # rows trained on randomly shifted examples, where `shift` > 0
HEADS = {"canvas": "gmp,dense", "centred": "flatten,dense"}  # a linear head on the base's output
EVAL_CANVASES = {"val": 500, "test": 1000}                   # canvases of digits 5-9 each split is scored on
_STREAMS = {"examples": 0, "source": 1, "val": 2, "test": 3}  # independent random streams per seed


@dataclass
class DigitsTransfer:
    labels: int = 3                 # labelled examples per target class (digits 5-9), drawn per seed
    seeds: int = 5                  # trials; seed i draws the examples and initialises every network
    canvas: int = 24                # pixels, side of the canvas the digits go on; 0: the plain 8x8 digits (centred)
    digit_sizes: tuple[int, int] = (8, 20)  # pixels, smallest and largest side of a placed digit
    noise: float = 0.15             # std of the Gaussian pixel noise on a canvas, in units of full intensity
    placements: int = 10            # canvases per training digit 0-4 for the source (about 630 digits)
    source_epochs: int = 6          # passes over the source images (canvases, or the ~630 training digits 0-4)
    target_steps: int = 100         # full-batch steps on the few examples, for every row
    scratch_lr: float = 1e-3        # Adam, constant, for the scratch row
    head_lr: float = 3e-2           # Adam, constant, for the frozen rows' heads
    fine_lr: float = 3e-3           # Adam, constant, for the fine-tuned rows (every layer trains)
    shift: int = 6                  # pixels: the +shifts rows' largest random shift; 0 leaves those rows out
    shift_lr: float = 1e-2          # Adam, constant, for the scratch+shifts row
    acc: dict[str, list[float]] = field(default_factory=dict)  # row -> test accuracy on digits 5-9, per seed

    @classmethod
    def centred(cls, **overrides) -> DigitsTransfer:
        """The second setting: the plain 8x8 digits on `lenet`, where transfer does not win."""
        return replace(cls(canvas=0, noise=0.0, source_epochs=30, scratch_lr=1e-3, head_lr=3e-3, fine_lr=1e-3,
                           shift=0),
                       **overrides)

    @property
    def setting(self) -> str:
        return "canvas" if self.canvas else "centred"

    def rows(self) -> tuple[str, ...]:
        return ROWS + (SHIFTED if self.shift else ())

    def validate(self) -> DigitsTransfer:
        check_range("labels", self.labels, 1, 100)
        check_range("seeds", self.seeds, 1, None)
        if self.canvas:
            check_range("canvas", self.canvas, 16, 256)
            lo, hi = self.digit_sizes
            if not 4 <= lo <= hi <= self.canvas:
                raise UserError(f"--digit-sizes {lo},{hi} must be two sides from 4 up to the canvas's "
                                f"{self.canvas} pixels, the smaller first")
            check_range("noise", self.noise, 0, 1)
            check_range("placements", self.placements, 1, None)
        check_range("source_epochs", self.source_epochs, 1, None)
        check_range("target_steps", self.target_steps, 1, None)
        for name in ("scratch_lr", "head_lr", "fine_lr", "shift_lr"):
            check_range(name, getattr(self, name), 0, None, low_open=True)
        check_range("shift", self.shift, 0, None)
        return self

    def run(self, data=None) -> DigitsTransfer:
        """Fill `acc`. `data`: the loaded digits (a test passes its fixture), else loaded here."""
        from ..data import load_dataset
        from ..studies.common import one_thread

        self.validate()
        data = data if data is not None else load_dataset("digits")
        self.acc = {row: [] for row in self.rows()}
        with one_thread():
            for seed in range(self.seeds):
                for row, acc in trial(data, seed, self).items():
                    self.acc[row].append(acc)
        return self

    def means(self) -> dict[str, float]:
        return {row: statistics.fmean(v) for row, v in self.acc.items()}

    def describe(self) -> str:
        if not self.canvas:
            return "centred 8x8 digits, lenet"
        lo, hi = self.digit_sizes
        return (f"digits of {lo}-{hi} px at random on a {self.canvas}x{self.canvas} canvas, noise {self.noise:g}, "
                "gmp_convnet")

    def finding(self) -> str:
        m = self.means()
        shifted = (f"; with random shifts of the examples: from scratch {m[SHIFTED[0]]:.3f}, fine-tuned "
                   f"{m[SHIFTED[1]]:.3f}" if SHIFTED[0] in m else "")
        return (f"{self.labels} labels per class, {self.seeds} seeds: transferred (frozen 0-4 base) "
                f"{m['frozen']:.3f}, from scratch {m['scratch']:.3f} ({100 * (m['frozen'] - m['scratch']):+.1f} "
                f"points); fine-tuned {m['fine-tuned']:.3f}; a frozen random base {m['random base']:.3f}{shifted}")

    def to_dict(self) -> dict:
        return {**asdict(self), "setting": self.setting, "means": self.means()}

    def render(self, print_fn=print) -> None:
        """One line per row: the accuracy of each seed, then the mean."""
        print_fn(f"test accuracy on digits 5-9 (chance 0.200), {self.labels} labelled examples per class; "
                 f"{self.describe()}")
        print_fn(f"{'row':<18}" + "".join(f"  seed {s:<2}" for s in range(self.seeds)) + "    mean")
        for row, values in self.acc.items():
            print_fn(f"{row:<18}" + "".join(f"  {v:7.3f}" for v in values) + f"  {statistics.fmean(values):6.3f}")
        print_fn(self.finding())


def gmp_convnet(num_classes: int = 5, in_channels: int = 1, width: int = 16, seed: int = 0) -> nn.Module:
    """Three 3x3 "same" convolution stages (width, 2 width, 4 width channels; 2x2 max pooling between
    them), global max pooling, one dense layer: 23,621 parameters at width 16 for five classes. Global pooling makes
    it translation invariant for any input size (Oquab et al. 2015)."""
    from ..zoo.course import ConvHead

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        c = (in_channels, width, 2 * width, 4 * width)
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(c[i], c[i + 1], 3, padding=1), nn.ReLU(inplace=True)]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
        classifier = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c[-1], num_classes))
        return ConvHead(nn.Sequential(*layers), classifier)


def place_digits(digits: torch.Tensor, canvas: int, sizes: tuple[int, int], noise: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Each of `digits` ((N, 1, 8, 8), 0..16) scaled bilinearly to a random side in `sizes` (pixels),
    put at a random place on its own `canvas` x `canvas` image, plus Gaussian noise of std `noise`
    (full intensity 1), clipped: (N, 1, canvas, canvas) uint8, 0..255. One affine resampling for all."""
    n = len(digits)
    side = sizes[0] + torch.rand(n, generator=generator) * (sizes[1] - sizes[0])
    frac = side / canvas                                                      # the digit's share of the canvas
    centre = (torch.rand(2, n, generator=generator) * 2 - 1) * (1 - frac)      # (2, N): x, y in [-1, 1] units
    theta = torch.zeros(n, 2, 3)                                              # canvas coordinates -> digit's
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / frac
    theta[:, :, 2] = -(centre / frac).T
    grid = F.affine_grid(theta, [n, 1, canvas, canvas], align_corners=False)  # (N, canvas, canvas, 2)
    x = F.grid_sample(digits.float() / 16, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if noise:
        x = x + noise * torch.randn(x.shape, generator=generator)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)                      # (N, 1, canvas, canvas)


def _generator(seed: int, stream: str) -> torch.Generator:
    return torch.Generator().manual_seed(10_000 * _STREAMS[stream] + seed)


def few_examples(split, classes: range, per_class: int, seed: int) -> torch.Tensor:
    """Indices of `per_class` examples of each class, drawn at random with `seed`."""
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in classes:
        idx = torch.nonzero(split.y == c).flatten()
        if len(idx) < per_class:
            raise UserError(f"--labels {per_class} is more than the {len(idx)} training examples of class {c}")
        picked.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picked)


def evaluation_set(data, cfg: DigitsTransfer, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """Digits 5-9 of `split` as (x, y - 5): the digits themselves, or `EVAL_CANVASES[split]` canvases
    of them (the same for every seed and row)."""
    s = data.split(split)
    high = s.y >= 5
    x, y = s.x[high], s.y[high] - 5
    if not cfg.canvas:
        return x, y
    g = _generator(0, split)
    pick = torch.randint(0, len(x), (EVAL_CANVASES[split],), generator=g)
    return place_digits(x[pick], cfg.canvas, cfg.digit_sizes, cfg.noise, g), y[pick]


def fresh_model(cfg: DigitsTransfer, seed: int) -> nn.Module:
    """The setting's network for five classes, initialised from `seed`."""
    import classicnets as cn
    return gmp_convnet(5, seed=seed) if cfg.canvas else cn.create("lenet", num_classes=5, seed=seed)


def train_source(data, seed: int, cfg: DigitsTransfer):
    """The setting's network trained on the training digits 0-4: `placements` canvases of each, or
    the digits themselves with shifts of up to one pixel. Returns (model, normalization): the
    normalization (from the source images) is used by every row."""
    from ..data import AugmentConfig, Normalization
    from ..train import TrainConfig
    from ..train.engine import fit

    low = data.train.y < 5
    x, y = data.train.x[low], data.train.y[low]
    model = fresh_model(cfg, seed)
    if cfg.canvas:
        x, y = x.repeat_interleave(cfg.placements, 0), y.repeat_interleave(cfg.placements, 0)
        x = place_digits(x, cfg.canvas, cfg.digit_sizes, cfg.noise, _generator(seed, "source"))
        norm, augment, batch = Normalization.fit(x, 255.0), None, 128
    else:
        norm, augment, batch = data.normalization(), AugmentConfig(translate=1), 64
    fit(model, (x, y), TrainConfig(epochs=cfg.source_epochs, batch_size=batch, seed=seed),
        normalization=norm, augment=augment)
    return model, norm


def train_few(model, examples, normalization, *, steps: int, lr: float, seed: int, shift: int = 0):
    """`model` trained full batch on `examples` (x, y) for `steps` steps of Adam at a constant `lr`,
    each step's images shifted by up to `shift` pixels (zeros fill in)."""
    from ..data import AugmentConfig
    from ..train import TrainConfig
    from ..train.engine import fit

    cfg = TrainConfig(epochs=steps, batch_size=len(examples[0]), lr=lr, seed=seed, schedule="constant")
    fit(model, examples, cfg, normalization=normalization, augment=AugmentConfig(translate=shift) if shift else None)
    return model


def trial(data, seed: int, cfg: DigitsTransfer, split: str = "test") -> dict[str, float]:
    """Every row's accuracy on digits 5-9 of `split` for one seed (`split="val"` to choose rates)."""
    import classicnets as cn

    from .heads import freeze, with_head

    few = few_examples(data.train, range(5, 10), cfg.labels, seed)
    x, y = data.train.x[few], data.train.y[few] - 5
    if cfg.canvas:
        x = place_digits(x, cfg.canvas, cfg.digit_sizes, cfg.noise, _generator(seed, "examples"))
    examples, shape = (x, y), tuple(x.shape[1:])
    evaluation = evaluation_set(data, cfg, split)
    source, norm = train_source(data, seed, cfg)
    steps = dict(steps=cfg.target_steps, seed=seed)

    def headed(model, frozen: bool):
        torch.manual_seed(seed)  # the new head's initialisation
        model = with_head(model, HEADS[cfg.setting], 5, shape)
        return freeze(model, "base") if frozen else model

    models = {
        "scratch": train_few(fresh_model(cfg, seed), examples, norm, lr=cfg.scratch_lr, **steps),
        "frozen": train_few(headed(copy.deepcopy(source), True), examples, norm, lr=cfg.head_lr, **steps),
        "random base": train_few(headed(fresh_model(cfg, seed), True), examples, norm, lr=cfg.head_lr, **steps),
        "fine-tuned": train_few(headed(copy.deepcopy(source), False), examples, norm, lr=cfg.fine_lr, **steps),
    }
    if cfg.shift:
        shifted = dict(shift=cfg.shift, **steps)
        models[SHIFTED[0]] = train_few(fresh_model(cfg, seed), examples, norm, lr=cfg.shift_lr, **shifted)
        models[SHIFTED[1]] = train_few(headed(source, False), examples, norm, lr=cfg.fine_lr, **shifted)
    return {row: cn.evaluate(m, evaluation, normalization=norm)["acc"] for row, m in models.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m classicnets.transfer.demo",
                                description="Transfer on digits: a ConvNet trained on 0-4, a new head on 5-9 "
                                            "from a few labels, beside the same network trained from scratch.")
    p.add_argument("--setting", choices=("canvas", "centred"), default="canvas",
                   help="canvas: digits at random places and sizes on a noisy canvas (transfer wins); "
                        "centred: the plain 8x8 digits (it does not)")
    p.add_argument("--labels", type=int, help="labelled examples per class of 5-9 (default 3)")
    p.add_argument("--seeds", type=int, help="trials, seeds 0..N-1 (default 5)")
    p.add_argument("--canvas", type=int, help="canvas setting: side of the canvas in pixels (default 24)")
    p.add_argument("--digit-sizes", metavar="MIN,MAX", help="canvas setting: sides of a placed digit in pixels "
                                                             "(default 8,20)")
    p.add_argument("--noise", type=float, help="canvas setting: std of the pixel noise (default 0.15)")
    p.add_argument("--source-epochs", type=int, help="passes over the source images (default 6; centred 30)")
    p.add_argument("--target-steps", type=int, help="full-batch steps on the few examples (default 100)")
    p.add_argument("--json", action="store_true", help="every number as JSON instead of the table")
    a = p.parse_args(argv)
    given = {k: v for k, v in dict(labels=a.labels, seeds=a.seeds, canvas=a.canvas, noise=a.noise,
                                   source_epochs=a.source_epochs, target_steps=a.target_steps).items()
             if v is not None}
    try:
        if a.digit_sizes is not None:
            try:
                given["digit_sizes"] = tuple(int(v) for v in a.digit_sizes.split(","))
            except ValueError:
                given["digit_sizes"] = ()
            if len(given["digit_sizes"]) != 2:
                raise UserError(f"--digit-sizes takes two whole numbers of pixels such as 8,20; got {a.digit_sizes!r}")
        if a.setting == "centred" and {"canvas", "noise", "digit_sizes"} & set(given):
            raise UserError("--canvas, --digit-sizes and --noise belong to the canvas setting; leave them out with "
                            "--setting centred")
        if "canvas" in given:
            check_range("canvas", given["canvas"], 16, 256)  # 0 would be the centred digits: --setting centred
        demo = (DigitsTransfer.centred(**given) if a.setting == "centred" else DigitsTransfer(**given)).run()
    except UserError as e:
        import sys
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        import json
        print(json.dumps(demo.to_dict(), indent=2))
    else:
        demo.render()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
