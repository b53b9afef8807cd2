"""Classification (multiclass and binary) and sequence regression: one class per image, text or sequence
(or a class per time step), a number per sequence. Regression is classification without classes: no
accuracy, no confusion matrix, its outputs printed as numbers."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from ...config import RunConfig
from ...errors import UserError
from .base import Log, PredictRequest, Prepared, Task, check_tta, fill_for_data


def smallest_input(name: str, args: dict[str, Any], size: int) -> int | None:
    """The smallest square image side above `size` at which model `name` builds and runs (None: none up to 1024)."""
    import torch

    from ...inspect import summarize
    from ...zoo import create

    def works(s: int) -> bool:
        try:
            with torch.device("meta"):
                model = create(name, **{**args, "input_size": s})
            summarize(model, (args.get("in_channels", 3), s, s))
            return True
        except UserError:
            return False
    hi = size + 1
    while hi <= 1024 and not works(hi):
        hi *= 2
    if hi > 1024:
        return None
    lo = max(size + 1, hi // 2)
    while lo < hi:  # the smallest working side in [lo, hi]
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid + 1, hi)
    return hi


def format_metrics(out: dict[str, Any]) -> str:
    return " - ".join(f"{k} {out[k]:.4f}" for k in ("loss", "acc") if k in out)


def _check_data(cfg: RunConfig, data, warn: Log) -> None:
    """Skipped files and the arrays' layout said, non-finite inputs and augmentation too large for the
    images refused."""
    from ...data.core import check_finite

    skipped = data.meta.get("skipped") or []
    if skipped:
        warn(f"Skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped[:3])}"
             + (", ..." if len(skipped) > 3 else ""))
    if data.meta.get("layout"):
        warn(f"Images read {data.meta['layout']}")
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        if split is not None:
            check_finite(split, f"{name}")
    if data.kind == "image" and cfg.augment.enabled:
        cfg.augment.check_image_size(*data.input_shape[1:])
    check_tta(cfg.train.tta, data)


class Classification(Task):
    """Classes per example (or per time step), softmax or one logit, scored by accuracy."""

    def build(self, cfg: RunConfig, data):
        """The run's model, initialised from the run's seed, checked against the data's inputs and labels."""
        import torch

        from ...inspect import summarize
        from ...zoo import create

        user_args = dict(cfg.model_args)
        what = None if data.task == "regression" else \
            "one output (a binary task)" if data.task == "binary" else f"{data.num_classes} classes"
        fill_for_data(cfg, data, data.num_outputs, what)
        try:
            model = create(cfg.model, seed=cfg.train.seed, **cfg.model_args)
            # one forward pass on the data's input shape: a clear error now if the input does not fit
            summarize(model, data.input_shape, dtype=torch.long if data.kind == "tokens" else torch.float32)
        except UserError:
            if data.kind != "image" or "input_size" in user_args:
                raise
            h, w = data.input_shape[1:]
            need = smallest_input(cfg.model, cfg.model_args, min(h, w))
            if need is None:
                raise
            raise UserError(f"{cfg.model} needs images of at least {need}x{need}, and {data.name}'s are {h}x{w}; "
                            f"choose a model for small images (e.g. lenet) or larger data (an image folder "
                            f"takes --data-arg size={need})") from None
        return model

    def prepare(self, cfg, data, device, warn, base_only=False):
        import torch

        _check_data(cfg, data, warn)
        if cfg.train.test_normalize != "train" and (data.kind != "image" or cfg.transfer.enabled):
            raise UserError(f"--test-normalize {cfg.train.test_normalize} reads the course's image code literally; "
                            f"it applies to images trained from scratch, not to {'transferred weights' if data.kind == 'image' else data.kind}")
        model = self.build(cfg, data)
        normalization, record = data.normalization(cfg.train.normalize), {}
        if cfg.transfer.enabled:
            from ...transfer.setup import apply_transfer
            if data.kind != "image":
                raise UserError("transfer learning (--weights, --head, --freeze, --features) applies to image models")
            model, weights_norm, record = apply_transfer(cfg.transfer, model, model_name=cfg.model,
                                                         num_outputs=data.num_outputs, input_shape=data.input_shape,
                                                         model_args=cfg.model_args, warn=warn, base_only=base_only)
            if weights_norm is not None:  # the weights were trained on inputs prepared their way
                normalization = weights_norm
            if cfg.transfer.features and cfg.augment.enabled:
                warn("--features runs the base once over each image, so nothing can be augmented "
                     "(the course: method 1 'precludes the use of data augmentation'); augmentation is off")
                cfg.augment = dataclasses.replace(cfg.augment, **{f.name: f.default for f in
                                                                  dataclasses.fields(cfg.augment)})
        torch.manual_seed(cfg.train.seed)
        return Prepared(cfg, data, model, normalization, device, self, record)

    def fit(self, p, callbacks, resume, log):
        """fit() for a prepared run: the whole model, or (method 1, `transfer.features`) only its head on
        the base's features, extracted once and cached."""
        from ...train.engine import fit

        cfg = p.config
        if not cfg.transfer.features:
            return fit(p.model, p.data, cfg.train, augment=cfg.augment, normalization=p.normalization,
                       callbacks=callbacks, resume=resume)
        from ...transfer.features import extract, identity_normalization
        feats, _, _ = extract(p.model.base, p.data, p.normalization, feature_identity(p, p.model.base), p.device,
                              log=log)
        history = fit(p.model.head, feats, cfg.train, augment=None, normalization=identity_normalization(feats),
                      callbacks=callbacks, resume=resume)
        history.normalization = p.normalization  # the whole model's: the head's inputs come from the base
        return history

    def test(self, p, log):
        from ...train.evaluation import evaluate

        t = p.config.train
        from ...train.tta import with_tta

        test = evaluate(with_tta(p.model, t.tta), p.data, split="test", batch_size=t.eval_batch_size,
                        normalization=p.data.test_normalization(p.normalization, t.normalize, t.test_normalize))
        log(f"Test: {format_metrics(test)} ({len(p.data.test):,} samples)")
        return {f"test_{k}": v for k, v in test.items()}

    def evaluate(self, run, model, card, cfg, data, split, results, out):
        from ...train.evaluation import evaluate

        norm = data.test_normalization(card.norm, cfg.train.normalize, cfg.train.test_normalize) \
            if split == "test" else card.norm
        from ...train.tta import with_tta

        scores = evaluate(with_tta(model, cfg.train.tta), data, split=split, normalization=norm, confusion=True,
                          task=card.task)
        out(f"{split}: {format_metrics(scores)} ({len(data.split(split)):,} samples)")
        if isinstance(results.get("course"), dict):
            _print_course(results["course"], split, scores, out)
        entries = {f"{split}_{k}": v for k, v in scores.items() if k != "confusion"}
        if "confusion" in scores:
            entries[f"{split}_confusion"] = _show_confusion(run, scores["confusion"], card, split, out).tolist()
        return entries

    def predict(self, run, model, card, request, out):
        from ...record import CARD, CONFIG, read_config
        from ...train.evaluation import predict

        if request.out is not None or request.score_threshold is not None:
            raise UserError(f"--out and --score-threshold are for detection runs; {run} holds a classifier "
                            f"({card.name}), whose predictions are printed")
        names, x = _inputs(card, request)
        if (Path(run) / CONFIG).exists():  # the run's test-time augmentation, as its scores were taken
            from ...train.tta import with_tta
            model = with_tta(model, read_config(run).train.tta)
        probs = predict(model, x, normalization=card.norm, task=card.task)
        expected = max(len(card.classes), 2 if card.task == "binary" else 0)
        if card.task != "regression" and probs.shape[-1] != expected:
            raise UserError(f"model description {Path(run) / CARD} is damaged: it names {len(card.classes)} "
                            f"classes for a model with {probs.shape[-1]} outputs")
        _print_predictions(names, probs, card, request.top_k, out)


class Regression(Classification):
    """A number (or a vector) per sequence, mean squared error, no accuracy (its evaluation has no
    confusion matrix, its predictions print the outputs)."""


def feature_identity(p: Prepared, base) -> dict[str, Any]:
    """What determines the features of `base` (the prepared model's): the model, the base's own tensors,
    the data, the preprocessing (`transfer.features.feature_identity`). `extract` and `train --features`
    both key their cache by it, so the same base over the same data meets the same cache whichever
    file its weights came from."""
    from ...transfer.features import feature_identity as identity

    cfg = p.config
    return identity(model=cfg.model, model_args=cfg.model_args, base=base, data=cfg.data, data_args=cfg.data_args,
                    data_dir=cfg.data_dir, normalization=p.normalization, input_shape=p.data.input_shape)


# -- evaluate and predict's output -------------------------------------------------------------------
def _print_course(course: dict[str, Any], split: str, scores: dict[str, Any], out: Log) -> None:
    from ...recipes import CourseFigure
    try:
        fig = CourseFigure(**{k: v for k, v in course.items() if k != "run_value"})
    except TypeError:
        return  # not a figure this version wrote
    mine = f"{scores['acc']:.2%} {split}" if "acc" in scores else f"{split}_loss {scores['loss']:.4f}"
    out(f"{fig.by}: {fig.describe()} ({fig.metric}) · this evaluation: {mine}")


def _show_confusion(run: Path, cm, card, split: str, out: Log):
    """The confusion matrix as a table (or its largest confusions, for many classes) and a PNG in `run`."""
    from ..confusion import TABLE_MAX_CLASSES, render_confusions
    from ..plots import plot_confusion

    if len(card.classes) <= TABLE_MAX_CLASSES:
        _print_confusion(cm, card.classes)
    else:  # a table of 100 columns reads as nothing: the largest confusions instead
        render_confusions(cm, card.classes, out)
    png = Path(run) / f"confusion-{split}.png"
    try:
        plot_confusion(cm, card.classes, png, title=f"{card.name} on {card.data} ({split})")
    except OSError as e:  # a read-only run (a course's, shared): the matrix is shown all the same
        print(f"classicnets: warning: cannot save {png} ({e.strerror or e}); the confusion matrix is only "
              f"shown above", file=sys.stderr)
    else:
        out(f"Saved {png}")
    return cm


def _print_confusion(cm, classes: list[str]) -> None:
    from rich.table import Table

    from ...terminal import print_table

    table = Table(title="Confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("true \\ pred")
    for c in classes:
        table.add_column(c, justify="right")
    for i, c in enumerate(classes):
        table.add_row(c, *(str(int(v)) if v else "." for v in cm[i].tolist()))
    print_table(table)


def _inputs(card, request: PredictRequest):
    """(names, raw inputs) of a prediction request: texts encoded with the run's vocabulary, word-id or
    sequence arrays, or images and arrays converted to the model's input."""
    import torch

    from ...data.files import read_inputs, read_sequences

    shape = tuple(card.input_shape)
    if request.texts:
        if request.files:
            raise UserError("give either files or --text, not both")
        x = torch.from_numpy(card.vocabulary.encode_padded(request.texts))
        return [t if len(t) <= 60 else t[:57] + "..." for t in request.texts], x
    if not request.files:
        what = ("--text \"some words\"" if card.vocab is not None
                else ".npy arrays of sequences" if len(shape) < 3 else "image or .npy files")
        raise UserError(f"nothing to predict: give {what}")
    if card.vocab is not None:
        raise UserError(f"{card.name} reads text; pass it with --text \"...\"")
    if len(shape) < 3:  # word ids (T,) or sequences (T, F)
        return read_sequences(request.files, shape)
    norm = card.norm
    return read_inputs(request.files, shape, norm.max_value if norm else 1.0, invert=request.invert,
                       resize=card.resize)


def _print_predictions(names: list[str], probs, card, top_k: int, out: Log) -> None:
    from rich.table import Table

    from ...terminal import print_table

    if card.task == "regression":
        for name, v in zip(names, probs.reshape(len(probs), -1).tolist()):
            out(f"{name}: {' '.join(f'{x:.4f}' for x in v)}")
        return
    if probs.ndim == 3:  # a class per time step (the copy task): the predicted sequence
        for name, steps in zip(names, probs.argmax(-1).tolist()):
            out(f"{name}: {' '.join(card.classes[i] for i in steps)}")
        return
    table = Table()
    table.add_column("input", overflow="fold")
    table.add_column("class")
    if card.task == "binary":
        table.add_column(f"P({card.classes[1]})", justify="right")
        for name, (_, p) in zip(names, probs.tolist()):
            table.add_row(name, card.classes[int(p > 0.5)], f"{p:.1%}")
        print_table(table)
        return
    k = max(1, min(top_k, len(card.classes)))
    top_p, top_i = probs.topk(k, dim=1)
    table.add_column(f"top {k}" if k > 1 else "probability")
    for name, ps, idx in zip(names, top_p.tolist(), top_i.tolist()):
        table.add_row(name, card.classes[idx[0]],
                      ", ".join(f"{card.classes[i]} {p:.1%}" for p, i in zip(ps, idx)))
    print_table(table)
