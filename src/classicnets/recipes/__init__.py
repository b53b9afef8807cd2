"""Recipes: the course's experiments, each with the course's settings and its reported result.

A recipe names a model and a data set with their options, and every training, validation,
normalisation and augmentation setting of one experiment of the course texts (../shared/course),
each taken from the text; where the text is silent, the recipe uses what Keras 2 did by default
then (`KERAS_TRAIN`, `KERAS_AUGMENT`) and says so in its notes. `CourseFigure` is the course's
reported number with the sentence or printed line it comes from, so a run can be set beside it.

Keras's literal behaviours (`KERAS_LITERAL`: its initial weights, BatchNorm momentum, trainable
padding row, a bare Dense(1) read as a probability, the course's own test-set normalisation) are
ordinary options. A recipe sets the ones that are harmless, and names in `keras_off` the ones it
leaves off, with their literal value, its notes saying why; `Recipe.fidelity` says which is which.

    classicnets recipes                        # the list
    classicnets train --recipe resnet_mini_cifar10 [--epochs 5 ...]   # options override the recipe
"""
from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig
from ..data.augment_config import AugmentConfig
from ..errors import UserError, unknown_name

# What a Keras 2 `model.fit` did when the code did not say: a constant learning rate (no callback),
# no validation unless asked, no augmentation; ImageDataGenerator filled shifted-in pixels with the
# nearest edge pixel (fill_mode='nearest'). Optimizer, rate, batch and epochs are set by every recipe.
KERAS_TRAIN: dict[str, Any] = dict(schedule="constant", momentum=0.0, nesterov=False, weight_decay=0.0,
                                   decay=0.0, label_smoothing=0.0, val_split=0.0, val_split_mode="last",
                                   validate_on="val", normalize="scale", early_stopping=0, keep_best=False)
KERAS_AUGMENT: dict[str, Any] = dict(fill_mode="nearest")

# The Keras-literal settings (flat keys as `Recipe.settings` has them: "arg." for a model option),
# what each is called, and its literal value where it has one value (see `zoo.keras_literal`);
# test_normalize's literal value is each course text's own ('own' or 'raw').
KERAS_LITERAL: dict[str, tuple[str, Any]] = {
    "arg.init": ("initial weights", "keras"),
    "arg.bn_momentum": ("BatchNorm momentum 0.99", 0.01),
    "arg.pad_row": ("trainable embedding row 0", "trainable"),
    "arg.output": ("Dense(1) read as a probability", "probability"),
    "test_normalize": ("test-set normalisation", None),
}


@dataclass(frozen=True)
class CourseFigure:
    """A result the course reports, and where."""

    metric: str                 # "val_acc", "test_acc", "loss", "val_loss", ...
    value: float | None         # None: the course states the outcome in words only
    epochs: int | None          # after this many epochs (None: not stated)
    quote: str                  # the course's words or printed line, verbatim
    source: str                 # course file and line
    best: bool = False          # the best epoch's value (the text's "maximum accuracy"), not the last
    approx: bool = False        # the text gives a rounded figure ("about 45%")
    by: str = "course"          # whose figure: the course's, or a published one's ("published ResNet18")

    def describe(self) -> str:
        """e.g. '89.95% val after 50 epochs', 'best 85.14% val at epoch 18', 'loss 2.2750 after 10 epochs'."""
        if self.value is None:
            return "no figure"
        what = _metric_label(self.metric)
        if self.metric.endswith("acc"):
            value = f"about {self.value:.0%}" if self.approx else f"{self.value:.2%}"
            value = f"{value} {what}"
        else:
            value = f"{what} {self.value:.4f}"
        if self.best:
            return f"best {value}" + (f" at epoch {self.epochs}" if self.epochs else "")
        return value + (f" after {self.epochs} epochs" if self.epochs else "")

    def run_value(self, series: list | None, results: dict[str, Any]) -> tuple[float | None, int | None]:
        """(the run's value to set beside this figure, its epoch): like with like. A test figure comes
        from `results`; otherwise from `series`, the run's per-epoch values of `metric` (None or NaN
        where an epoch has none): its best epoch's where the course quotes its best epoch
        (`best=True`: highest accuracy, lowest loss), else its last epoch's."""
        if self.metric.startswith("test_"):
            return (float(results[self.metric]), None) if _number(results.get(self.metric)) else (None, None)
        series = list(series or [])
        if not self.best:
            return (float(series[-1]), len(series)) if series and _number(series[-1]) else (None, None)
        scored = [(float(v), epoch) for epoch, v in enumerate(series, 1) if _number(v)]
        if not scored:
            return None, None
        sign = 1 if self.metric.endswith("acc") else -1
        return max(scored, key=lambda t: (sign * t[0], -t[1]))  # the first epoch reaching the best

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(v: Any) -> bool:
    """Whether `v` is a finite number (metrics.csv and results.json may hold None, NaN or damage)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _metric_label(metric: str) -> str:
    return {"val_acc": "val", "test_acc": "test", "acc": "train", "loss": "loss", "val_loss": "val_loss",
            "test_loss": "test_loss"}.get(metric, metric)


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str                                  # the experiment, as the course names it
    source: str                                 # course file (and lines) it comes from
    model: str
    data: str
    train: dict[str, Any]                       # TrainConfig fields the course sets
    figure: CourseFigure
    model_args: dict[str, Any] = field(default_factory=dict)
    data_args: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)  # AugmentConfig fields the course sets
    transfer: dict[str, Any] = field(default_factory=dict)  # TransferConfig fields (weights, head, freeze...)
    notes: str = ""                             # what the text leaves to Keras's defaults, and deviations
    keras_off: dict[str, Any] = field(default_factory=dict)  # KERAS_LITERAL settings left off: {key: literal value}

    def settings(self) -> dict[str, Any]:
        """Every setting the recipe fixes, flat: model, data, their options, training and augmentation."""
        out: dict[str, Any] = {"model": self.model, "data": self.data}
        out.update({f"arg.{k}": v for k, v in self.model_args.items()})
        out.update({f"data_arg.{k}": v for k, v in self.data_args.items()})
        out.update({**KERAS_TRAIN, **self.train})
        if self.augment:
            out.update({**KERAS_AUGMENT, **self.augment})
        out.update(self.transfer)
        return out

    def keras_literal(self, cfg=None) -> tuple[dict[str, Any], dict[str, Any]]:
        """({setting: literal value} run, {setting: literal value} left off) of Keras's literal behaviours
        (`KERAS_LITERAL`) that apply to this recipe: those it sets, and those in `keras_off`. With `cfg`, a
        run's `RunConfig`, the run's own settings (the recipe with its overrides) decide what is run."""
        fixed = self.settings()
        applies = {k: v for k, (_, v) in KERAS_LITERAL.items() if v is not None and fixed.get(k) == v}
        applies.update(self.keras_off)
        now = fixed if cfg is None else {**{f"arg.{k}": v for k, v in cfg.model_args.items()},
                                         **dataclasses.asdict(cfg.train)}
        on = {k: v for k, v in applies.items() if now.get(k) == v}
        return on, {k: v for k, v in applies.items() if k not in on}

    def fidelity(self, cfg=None) -> str:
        """The recipe's (or, with `cfg`, a run's) Keras fidelity in words, with the option that turns on
        each behaviour left off: 'Keras-literal: initial weights, BatchNorm momentum 0.99; left off:
        test-set normalisation (--test-normalize own)'; empty for a recipe none applies to."""
        on, off = self.keras_literal(cfg)
        parts = [f"Keras-literal: {', '.join(KERAS_LITERAL[k][0] for k in on)}"] if on else []
        if off:
            parts.append("left off: " + ", ".join(f"{KERAS_LITERAL[k][0]} ({_option(k, v)})" for k, v in off.items()))
        return "; ".join(parts)

    def fidelity_brief(self) -> str:
        """For the `recipes` table: 'yes', 'but not test-set normalisation', or '-' where none applies."""
        on, off = self.keras_literal()
        if off:
            return "but not " + ", ".join(KERAS_LITERAL[k][0] for k in off)
        return "yes" if on else "-"

    def run_config(self):
        """The recipe as a `RunConfig` (validated)."""
        from ..config import RunConfig
        train = TrainConfig(**{**KERAS_TRAIN, **self.train}).validate()
        augment = AugmentConfig(**({**KERAS_AUGMENT, **self.augment} if self.augment else {})).validate()
        from ..config import TransferConfig
        return RunConfig(model=self.model, model_args=dict(self.model_args), data=self.data,
                         data_args=dict(self.data_args), train=train, augment=augment,
                         transfer=TransferConfig(**self.transfer).validate())


_RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.name in _RECIPES:
        raise ValueError(f"recipe {recipe.name!r} is registered twice")
    _RECIPES[recipe.name] = recipe
    return recipe


# The modules whose recipes register on import, by name (the registry imports none of them itself).
SOURCES = ("classicnets.recipes.course", "classicnets.recipes.own")


def _ensure_loaded() -> None:
    for module in SOURCES:
        importlib.import_module(module)


def list_recipes(pattern: str = "*") -> list[Recipe]:
    _ensure_loaded()
    return [_RECIPES[n] for n in sorted(_RECIPES) if fnmatch.fnmatch(n, pattern)]


def get_recipe(name: str) -> Recipe:
    _ensure_loaded()
    try:
        return _RECIPES[name]
    except KeyError:
        raise unknown_name("recipe", name, _RECIPES) from None


def apply_overrides(recipe: Recipe, *, model: str | None = None, data: str | None = None,
                    model_args: dict | None = None, data_args: dict | None = None,
                    train: dict | None = None, augment: dict | None = None, transfer: dict | None = None):
    """(RunConfig, provenance): the recipe with the user's explicit settings on top. Provenance
    records the recipe's name, every setting it fixed, and each explicit setting with the recipe's
    value beside it (`overridden`)."""
    cfg = recipe.run_config()
    fixed = recipe.settings()
    given: dict[str, Any] = {}
    if model is not None:
        given["model"], cfg.model = model, model
    if data is not None:
        given["data"], cfg.data = data, data
    for k, v in (model_args or {}).items():
        given[f"arg.{k}"] = cfg.model_args[k] = v
    for k, v in (data_args or {}).items():
        given[f"data_arg.{k}"] = cfg.data_args[k] = v
    try:
        cfg.train = dataclasses.replace(cfg.train, **(train or {}))
        cfg.augment = dataclasses.replace(cfg.augment, **(augment or {}))
        cfg.transfer = dataclasses.replace(cfg.transfer, **(transfer or {}))
    except TypeError as e:
        raise UserError(f"recipe {recipe.name}: {e}") from None
    given.update(train or {})
    given.update(augment or {})
    given.update(transfer or {})
    if model is not None and model != recipe.model:  # another model: the recipe's builder options no longer apply
        cfg.model_args = dict(model_args or {})
    provenance = {
        "name": recipe.name,
        "from_recipe": {k: v for k, v in fixed.items() if k not in given},
        "overridden": {k: {"recipe": fixed.get(k), "now": v} for k, v in given.items()},
        "course": recipe.figure.to_dict(),
    }
    return cfg, provenance


def markdown() -> str:
    """docs/recipes.md: every recipe with its command and the course's figure."""
    lines = ["# Recipes: the course's experiments", "",
             "Generated by `python -m classicnets.recipes > docs/recipes.md`; `tests/test_docs.py` checks it is",
             "current. Each recipe takes its settings from the course text named in its source; where the",
             "text is silent it uses Keras 2's defaults of the time (constant learning rate, no validation unless",
             "asked, `validation_split` taking the last fraction of the arrays, `fill_mode='nearest'`). Networks",
             "built from Keras code start from Keras's initial weights; each recipe's \"Keras fidelity\" line names",
             "the other Keras behaviours it reproduces and those it leaves off, with the option that turns each on",
             "(the notes say why). Any option given with `--recipe` overrides the recipe's value, and the run",
             "records which.", ""]
    for r in list_recipes():
        lines += [f"## `{r.name}`: {r.title}", "",
                  "```bash", f"classicnets train --recipe {r.name}", "```", "",
                  f"- model `{r.model}`" + (f" ({_kv(r.model_args)})" if r.model_args else "")
                  + f", data `{r.data}`" + (f" ({_kv(r.data_args)})" if r.data_args else ""),
                  f"- training: {_kv(r.train)}"]
        if r.augment:
            lines.append(f"- augmentation: {_kv({**KERAS_AUGMENT, **r.augment})}")
        if r.transfer:
            lines.append(f"- transfer: {_kv(r.transfer)}")
        lines += [f"- {'the course' if r.figure.by == 'course' else r.figure.by}: **{r.figure.describe()}** — “{r.figure.quote}” ({r.figure.source})",
                  f"- source: {r.source}"]
        if r.fidelity():
            lines.append(f"- Keras fidelity: {r.fidelity()}")
        if r.notes:
            lines.append(f"- notes: {r.notes}")
        lines.append("")
    return "\n".join(lines)


def _option(key: str, value: Any) -> str:
    """The command-line option giving a flat setting: '--arg output=probability', '--test-normalize own'."""
    if key.startswith("arg."):
        return f"--arg {key[4:]}={value}"
    return f"--{key.replace('_', '-')} {value}"


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())
