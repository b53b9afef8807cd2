"""fit / evaluate / predict: the training engine.

The loop is the one a careful PyTorch user writes by hand (forward, loss, backward, step) with the
epoch's loss and accuracy summed on the device, so nothing waits for the device per step. On CUDA
it adds channels_last (for images), bf16 autocast and torch.compile (each switchable in `TrainConfig`).

The loss follows the data set's task (`Dataset.task`, or from the targets' dtype for tensors):
- multiclass: softmax cross-entropy over the last axis, so (batch, classes) logits against (batch,)
  labels, or (batch, time, classes) against (batch, time) for per-step targets (the copy task);
- binary: one logit per example and binary cross-entropy (Keras's Dense(1, sigmoid) with
  binary_crossentropy, the sigmoid folded into the loss for stability); accuracy at logit > 0;
- regression: mean squared error, no accuracy (the adding problem).
"""
from __future__ import annotations

import contextlib
import math
import platform
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import AugmentConfig, Augmenter
from ..data.core import BatchLoader, Dataset, Normalization, Split, Task, check_finite, check_finite_array, stratified_split
from ..errors import UserError
from ..recurrent import is_recurrent
from .callbacks import Callback, EarlyStopping, KeepBest, Meter
from .checkpoint import load_state
from .config import TrainConfig
from .history import History
from .optim import make_optimizer, make_scheduler

DataLike = Dataset | Split | tuple[torch.Tensor, torch.Tensor]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} was asked for but no CUDA GPU is available; use --device cpu")
    return dev


def as_split(data: Split | tuple[torch.Tensor, torch.Tensor]) -> Split:
    return data if isinstance(data, Split) else Split(torch.as_tensor(data[0]), torch.as_tensor(data[1]))


def default_normalization(data: DataLike, mode: str = "standardize") -> Normalization | None:
    """Training-split statistics for a data set (or [0, 1] scaling with mode 'scale'); for raw
    tensors: per-channel statistics of uint8 images, identity for float images, None for sequences."""
    if isinstance(data, Dataset):
        return data.normalization(mode)
    split = as_split(data)
    if split.kind != "image":
        return None
    if split.x.dtype == torch.uint8:
        return Normalization.for_images(split.x, 255.0, mode)
    return Normalization.identity(split.x.shape[1])


def task_of(data: DataLike) -> Task:
    """The data set's task; for tensors: regression for float targets, else multiclass."""
    if isinstance(data, Dataset):
        return data.task
    return "regression" if as_split(data).y.is_floating_point() else "multiclass"


def make_loss(task: Task, label_smoothing: float = 0.0, reduction: str = "mean"):
    """loss(logits, targets) for a task (see the module docstring)."""
    if task == "binary":
        return lambda logits, y: F.binary_cross_entropy_with_logits(
            logits.float().reshape(y.shape), y.float(), reduction=reduction)
    if task == "regression":
        return lambda out, y: F.mse_loss(out.float().reshape(y.shape), y.float(), reduction=reduction)
    return lambda logits, y: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                             label_smoothing=label_smoothing, reduction=reduction)


def predictions(task: Task, logits: torch.Tensor, y_shape: torch.Size | tuple) -> torch.Tensor:
    """Predicted classes, shaped like the targets (binary: logit > 0)."""
    if task == "binary":
        return (logits.reshape(y_shape) > 0).long()
    return logits.argmax(-1).reshape(y_shape)


# A training loss this many times its value at the first step is divergence, not a bad epoch.
DIVERGENCE_FACTOR = 1000.0


def _check_input(model_input: tuple[int, ...], split: Split, what: str) -> None:
    if tuple(split.x.shape[1:]) != tuple(model_input):
        raise UserError(f"{what} inputs are {tuple(split.x.shape[1:])} but training inputs are "
                        f"{tuple(model_input)}")


class Trainer:
    """The state of one training run; `fit` drives it. Callbacks read and change it."""

    def __init__(self, model: nn.Module, train: Split, val: Split | None, config: TrainConfig,
                 normalization: Normalization | None, augment: AugmentConfig | None,
                 callbacks: list[Callback], task: Task = "multiclass"):
        self.config = cfg = config
        self.device = resolve_device(cfg.device)
        cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        self.task = task
        images = train.kind == "image"
        self.memory_format = torch.channels_last if cuda and images else torch.contiguous_format
        if cuda and images:
            self.model.to(memory_format=torch.channels_last)
        # auto: compile on CUDA, except recurrent models (a step loop of hundreds of steps would be
        # unrolled into one huge graph; the fused cuDNN kernels gain nothing from it)
        self.forward = (torch.compile(self.model) if cfg.compile == "on"
                        or (cfg.compile == "auto" and cuda and not is_recurrent(self.model)) else self.model)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 \
            else contextlib.nullcontext
        self.normalization = normalization
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        aug = Augmenter(augment) if augment is not None and augment.enabled and images else None
        self.train_loader = BatchLoader(train, cfg.batch_size, device=self.device, shuffle=True,
                                        normalization=normalization, generator=self.generator, augment=aug)
        self.val_loader = (BatchLoader(val, cfg.eval_batch_size, device=self.device,
                                       normalization=normalization) if val is not None else None)
        self.num_train, self.num_val = len(train), len(val) if val is not None else 0
        self.steps_per_epoch = len(self.train_loader)
        self.epochs = cfg.epochs
        self.optimizer = make_optimizer(self.model, cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        self.history = History()
        self.epoch = 0  # epochs completed
        self.stop_training = False
        self.initial_loss: float | None = None  # the loss of the run's first step, for divergence

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "data": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng,
            "history": self.history.to_dict(),
            "initial_loss": self.initial_loss,
            "callbacks": {type(c).__name__: c.state_dict() for c in self.callbacks if c.state_dict()},
        }

    def load_checkpoint(self, path) -> None:
        s = load_state(path)
        try:
            self.model.load_state_dict(s["model"])
            self.optimizer.load_state_dict(s["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(s["scheduler"])
            torch.set_rng_state(s["rng"]["torch"])
            self.generator.set_state(s["rng"]["data"])
            if "cuda" in s["rng"] and self.device.type == "cuda":
                torch.cuda.set_rng_state(s["rng"]["cuda"], self.device)
            self.history = History.from_dict(s["history"])
            for cb in self.callbacks:
                name = type(cb).__name__
                if name in s["callbacks"]:
                    cb.load_state_dict(s["callbacks"][name])
            self.epoch = int(s["epoch"])
            self.initial_loss = s.get("initial_loss")
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"checkpoint {path} does not match this model or configuration: "
                            f"{str(e).splitlines()[0]}") from None

    # -- the loop ---------------------------------------------------------------------------------
    def train_epoch(self, batch_callbacks: list[Callback]) -> dict[str, float]:
        model, opt, sched, fwd = self.model, self.optimizer, self.scheduler, self.forward
        task = self.task
        loss_fn = make_loss(task, self.config.label_smoothing)
        scored = task != "regression"
        meter = Meter(self.steps_per_epoch)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = targets = 0
        first = None
        model.train()
        for step, (xb, yb) in enumerate(self.train_loader):
            if self.memory_format is torch.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                logits = fwd(xb)                                         # (batch, [time,] outputs)
                loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            n = yb.shape[0]
            if first is None:
                first = loss.detach().clone()  # read once, at the epoch's end: no sync per step
            loss_sum += loss.detach() * n
            seen += n
            if scored:
                correct += (predictions(task, logits.detach(), yb.shape) == yb).sum()
                targets += yb.numel()
            if batch_callbacks:
                meter.step, meter.loss_sum, meter.seen = step + 1, loss_sum, seen
                meter.correct, meter.targets = (correct, targets) if scored else (None, 0)
                for cb in batch_callbacks:
                    cb.on_batch_end(self, step, meter)
        logs = {"loss": loss_sum.item() / seen}
        if self.initial_loss is None and first is not None:
            self.initial_loss = float(first)
        if scored:
            logs["acc"] = correct.item() / targets
        return logs

    def check_loss(self, epoch: int, loss: float) -> None:
        """Stop with a sentence when the loss is not finite, or has grown far past its first value."""
        lr = self.config.lr
        if not math.isfinite(loss):
            raise UserError(f"the training loss became {loss} in epoch {epoch + 1} (the inputs are finite); "
                            f"lower the learning rate (now {lr}) or check the model's initialisation")
        start = self.initial_loss
        if start is not None and math.isfinite(start) and loss > DIVERGENCE_FACTOR * max(start, 1e-3):
            raise UserError(f"training diverged: the loss rose from {start:.4g} at the first step to {loss:.4g} "
                            f"in epoch {epoch + 1}; lower the learning rate (now {lr})")

    def run(self) -> History:
        batch_cbs = [c for c in self.callbacks if type(c).on_batch_end is not Callback.on_batch_end]
        try:
            for cb in self.callbacks:
                cb.on_train_begin(self)
            while self.epoch < self.epochs and not self.stop_training:
                epoch = self.epoch
                for cb in self.callbacks:
                    cb.on_epoch_begin(self, epoch)
                logs = self.train_epoch(batch_cbs)
                self.check_loss(epoch, logs["loss"])
                if self.val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in
                                 run_eval(self.model, self.val_loader, self.autocast, task=self.task).items()})
                logs["lr"] = self.optimizer.param_groups[0]["lr"]
                self.history.append(epoch, logs)
                self.epoch = epoch + 1
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
            for cb in self.callbacks:
                cb.on_train_end(self)
        finally:
            for cb in self.callbacks:
                cb.close()
        return self.history


def resolve_splits(data: DataLike, validation_data, config: TrainConfig) -> tuple[Split, Split | None]:
    """The training and validation splits `fit` uses for `data` and `config`: the data set's own
    validation split; or `validation_data`; or the test split (`validate_on="test"`); or a held-out
    fraction of the training split, stratified and seeded, or its last fraction before any
    shuffling, as Keras's `validation_split` takes it (`val_split_mode="last"`)."""
    if isinstance(data, Dataset):
        train, val = data.train, data.val
    else:
        train, val = as_split(data), None
    if validation_data is not None:
        val = as_split(validation_data)
    elif config.validate_on == "test":
        if not isinstance(data, Dataset) or data.test is None:
            raise UserError("--validate-on test needs a data set with a test split")
        val = data.test
    elif config.val_split and config.val_split_mode == "last":
        split_at = int(len(train) * (1.0 - config.val_split))  # Keras: x[:split_at], x[split_at:]
        if split_at < 1 or split_at >= len(train):
            raise UserError(f"--val-split {config.val_split} leaves no examples on one side of {len(train)}")
        index = torch.arange(len(train))
        train, val = train.subset(index[:split_at]), train.subset(index[split_at:])
    elif config.val_split:
        keep, held = stratified_split(train.y, config.val_split, config.seed)
        train, val = train.subset(keep), train.subset(held)
    return train, val


def fit(model: nn.Module, data: DataLike, config: TrainConfig | None = None, *,
        augment: AugmentConfig | None = None, validation_data: Split | tuple | None = None,
        normalization: Normalization | None = None, callbacks: list[Callback] | tuple = (),
        resume: str | None = None, task: Task | None = None) -> History:
    """Train `model` on `data` and return its `History` (Keras-like: `.history["val_acc"]`).

    `data` is a `Dataset` (its train split, and its validation split unless
    `config.val_split` or `validation_data` says otherwise) or an (x, y) pair of tensors: images
    (N, C, H, W), word ids (N, T) or sequences (N, T, F). `task` (default: the data set's, see
    `task_of`) picks the loss. Images are normalised with the training split's statistics (see
    `default_normalization`); `history.normalization` holds them for `evaluate` and `predict`.
    `resume` names a checkpoint written by the `Checkpoint` callback to continue from.
    """
    config = (config or TrainConfig()).validate()
    if augment is not None:
        augment.validate()
    train, val = resolve_splits(data, validation_data, config)
    check_finite(train, "training")
    if val is not None:
        _check_input(tuple(train.x.shape[1:]), val, "validation")
    if config.monitor.startswith("val_") and val is None and (config.early_stopping or config.keep_best):
        raise UserError(f"monitoring {config.monitor} needs validation data; "
                        f"set val_split or monitor 'loss'")
    normalization = normalization or default_normalization(data, config.normalize)
    task = task or task_of(data)
    if task == "regression" and config.monitor.endswith("acc") and (config.early_stopping or config.keep_best):
        raise UserError(f"a regression task has no accuracy to monitor; use --monitor val_loss or loss")
    torch.manual_seed(config.seed)  # weights are initialised by the caller, dropout draws from here
    cbs = list(callbacks)
    if config.early_stopping:
        cbs.append(EarlyStopping(config.early_stopping, config.monitor))
    if config.keep_best:
        cbs.append(KeepBest(config.monitor))
    trainer = Trainer(model, train, val, config, normalization, augment, cbs, task)
    if resume is not None:
        trainer.load_checkpoint(resume)
        if trainer.epoch > config.epochs:
            raise UserError(f"the checkpoint has already trained {trainer.epoch} epochs; epochs must be at "
                            f"least {trainer.epoch}")
    history = trainer.run()
    history.normalization = normalization
    return history


@torch.no_grad()
def run_eval(model: nn.Module, loader: BatchLoader, autocast=contextlib.nullcontext,
             confusion: bool = False, num_classes: int | None = None,
             task: Task = "multiclass") -> dict[str, Any]:
    """Mean loss (per target value, as in training) and accuracy over a loader; with `confusion`
    also the confusion matrix (rows: true class, columns: predicted)."""
    was_training = model.training
    model.eval()
    loss_fn = make_loss(task, reduction="sum")
    loss_sum = torch.zeros((), dtype=torch.float64, device=loader.y.device)
    correct = torch.zeros((), dtype=torch.int64, device=loader.y.device)
    preds = []
    for xb, yb in loader:
        with autocast():
            logits = model(xb)
        loss_sum += loss_fn(logits.float(), yb)
        if task != "regression":
            p = predictions(task, logits, yb.shape)
            correct += (p == yb).sum()
            if confusion:
                preds.append(p)
    model.train(was_training)
    values = loader.y.numel()
    out: dict[str, Any] = {"loss": loss_sum.item() / values}
    if task != "regression":
        out["acc"] = correct.item() / values
        if confusion:
            k = num_classes or int(max(loader.y.max().item(), 1)) + 1
            pred = torch.cat(preds).reshape(-1)
            out["confusion"] = torch.bincount(loader.y.reshape(-1) * k + pred, minlength=k * k).view(k, k).cpu()
    return out


def evaluate(model: nn.Module, data: DataLike, *, split: str = "test",
             normalization: Normalization | None = None, batch_size: int = 1024,
             device: str | torch.device | None = None, confusion: bool = False,
             task: Task | None = None) -> dict[str, Any]:
    """Loss and accuracy of `model` on a split; with `confusion=True` also the confusion matrix
    (rows: true class, columns: predicted). Regression reports the loss (MSE) only."""
    normalization = normalization or default_normalization(data)
    s = data.split(split) if isinstance(data, Dataset) else as_split(data)
    dev = next(model.parameters()).device if device is None else torch.device(device)
    k = data.num_classes if isinstance(data, Dataset) else None
    loader = BatchLoader(s, batch_size, device=dev, normalization=normalization)
    return run_eval(model.to(dev), loader, confusion=confusion, num_classes=k, task=task or task_of(data))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, normalization: Normalization | None = None,
            batch_size: int = 1024, task: Task = "multiclass") -> torch.Tensor:
    """Class probabilities (N, [time,] classes) for raw inputs `x` in the training data's units:
    images (N, C, H, W), word ids (N, T) or sequences (N, T, F). Binary tasks give (N, 2):
    [P(negative), P(positive)]; regression gives the model's outputs."""
    x = torch.as_tensor(x)
    check_finite_array(x, "the inputs", "replace them before predicting")
    split = Split(x, torch.zeros(len(x), dtype=torch.long))
    normalization = normalization or default_normalization(split)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for xb, _ in BatchLoader(split, batch_size, device=dev, normalization=normalization):
        logits = model(xb).float()
        if task == "binary":
            p = torch.sigmoid(logits.reshape(len(logits)))
            out.append(torch.stack([1 - p, p], dim=1))
        else:
            out.append(logits if task == "regression" else torch.softmax(logits, -1))
    model.train(was_training)
    return torch.cat(out).cpu()


def environment() -> dict[str, str]:
    """Library versions and hardware, recorded with every run."""
    import numpy

    from .. import __version__
    env = {"classicnets": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
           "python": platform.python_version(), "platform": platform.platform(),
           "cpu_threads": str(torch.get_num_threads())}
    if torch.cuda.is_available():
        env["cuda"] = str(torch.version.cuda)
        env["gpu"] = torch.cuda.get_device_name()
    return env


def describe_machine(device: torch.device) -> str:
    """One line naming the versions and hardware, printed at the top of a benchmark."""
    env = environment()
    return (f"classicnets {env['classicnets']}, torch {env['torch']}, {device}"
            + (f" ({env['gpu']})" if device.type == "cuda" else "")
            + f", {env['cpu_threads']} CPU threads, {platform.processor() or platform.machine()}")
