"""fit / evaluate / predict: the training engine.

The loop is the one a careful PyTorch user writes by hand (forward, loss, backward, step) with the
epoch's loss and accuracy summed on the device, so nothing waits for the device per step. On CUDA
it adds channels_last, bf16 autocast and torch.compile (each switchable in `TrainConfig`).
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
from ..data.core import BatchLoader, Dataset, Normalization, Split, stratified_split
from ..errors import UserError
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


def default_normalization(data: DataLike) -> Normalization:
    """Training-split statistics for a data set; [0, 255] scaling for raw uint8; identity for floats."""
    if isinstance(data, Dataset):
        return data.normalization()
    x = as_split(data).x
    if x.dtype == torch.uint8:
        return Normalization.fit(x, 255.0)
    return Normalization.identity(x.shape[1])


def _check_input(model_input: tuple[int, ...], split: Split, what: str) -> None:
    if tuple(split.x.shape[1:]) != tuple(model_input):
        raise UserError(f"{what} images are {tuple(split.x.shape[1:])} but training images are "
                        f"{tuple(model_input)} (C, H, W)")


class Trainer:
    """The state of one training run; `fit` drives it. Callbacks read and change it."""

    def __init__(self, model: nn.Module, train: Split, val: Split | None, config: TrainConfig,
                 normalization: Normalization, augment: AugmentConfig | None,
                 callbacks: list[Callback]):
        self.config = cfg = config
        self.device = resolve_device(cfg.device)
        cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        if cuda:
            self.model.to(memory_format=torch.channels_last)
        self.forward = (torch.compile(self.model)
                        if cfg.compile == "on" or (cfg.compile == "auto" and cuda) else self.model)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 \
            else contextlib.nullcontext
        self.normalization = normalization
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        aug = Augmenter(augment) if augment is not None and augment.enabled else None
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
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"checkpoint {path} does not match this model or configuration: "
                            f"{str(e).splitlines()[0]}") from None

    # -- the loop ---------------------------------------------------------------------------------
    def train_epoch(self, batch_callbacks: list[Callback]) -> dict[str, float]:
        model, opt, sched, fwd = self.model, self.optimizer, self.scheduler, self.forward
        smoothing = self.config.label_smoothing
        meter = Meter(self.steps_per_epoch)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        model.train()
        for step, (xb, yb) in enumerate(self.train_loader):
            if self.memory_format is torch.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                logits = fwd(xb)                                         # (batch, classes)
                loss = F.cross_entropy(logits, yb, label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            n = yb.shape[0]
            loss_sum += loss.detach() * n
            correct += (logits.argmax(1) == yb).sum()
            seen += n
            if batch_callbacks:
                meter.step, meter.loss_sum, meter.correct, meter.seen = step + 1, loss_sum, correct, seen
                for cb in batch_callbacks:
                    cb.on_batch_end(self, step, meter)
        return {"loss": loss_sum.item() / seen, "acc": correct.item() / seen}

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
                if not math.isfinite(logs["loss"]):
                    raise UserError(f"the training loss became {logs['loss']} in epoch {epoch + 1}; "
                                    f"lower the learning rate (now {self.config.lr})")
                if self.val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in
                                 run_eval(self.model, self.val_loader, self.autocast).items()})
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
    """The training and validation splits `fit` uses for `data` and `config`."""
    if isinstance(data, Dataset):
        train, val = data.train, data.val
    else:
        train, val = as_split(data), None
    if validation_data is not None:
        val = as_split(validation_data)
    elif config.val_split:
        keep, held = stratified_split(train.y, config.val_split, config.seed)
        train, val = train.subset(keep), train.subset(held)
    return train, val


def fit(model: nn.Module, data: DataLike, config: TrainConfig | None = None, *,
        augment: AugmentConfig | None = None, validation_data: Split | tuple | None = None,
        normalization: Normalization | None = None, callbacks: list[Callback] | tuple = (),
        resume: str | None = None) -> History:
    """Train `model` on `data` and return its `History` (Keras-like: `.history["val_acc"]`).

    `data` is an `Dataset` (its train split, and its validation split unless
    `config.val_split` or `validation_data` says otherwise) or an (x, y) pair of tensors.
    Inputs are normalised with the training split's statistics (see `default_normalization`);
    `history.normalization` holds them for `evaluate` and `predict`.
    `resume` names a checkpoint written by the `Checkpoint` callback to continue from.
    """
    config = config or TrainConfig()
    if config.epochs < 1:
        raise UserError(f"epochs must be at least 1; got {config.epochs}")
    train, val = resolve_splits(data, validation_data, config)
    if val is not None:
        _check_input(tuple(train.x.shape[1:]), val, "validation")
    if config.monitor.startswith("val_") and val is None and (config.early_stopping or config.keep_best):
        raise UserError(f"monitoring {config.monitor} needs validation data; "
                        f"set val_split or monitor 'loss'")
    normalization = normalization or default_normalization(data)
    torch.manual_seed(config.seed)  # weights are initialised by the caller, dropout draws from here
    cbs = list(callbacks)
    if config.early_stopping:
        cbs.append(EarlyStopping(config.early_stopping, config.monitor))
    if config.keep_best:
        cbs.append(KeepBest(config.monitor))
    trainer = Trainer(model, train, val, config, normalization, augment, cbs)
    if resume is not None:
        trainer.load_checkpoint(resume)
    history = trainer.run()
    history.normalization = normalization
    return history


@torch.no_grad()
def run_eval(model: nn.Module, loader: BatchLoader, autocast=contextlib.nullcontext,
             confusion: bool = False, num_classes: int | None = None) -> dict[str, Any]:
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=loader.y.device)
    correct = torch.zeros((), dtype=torch.int64, device=loader.y.device)
    preds = []
    for xb, yb in loader:
        with autocast():
            logits = model(xb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
        p = logits.argmax(1)
        correct += (p == yb).sum()
        if confusion:
            preds.append(p)
    model.train(was_training)
    n = len(loader.y)
    out: dict[str, Any] = {"loss": loss_sum.item() / n, "acc": correct.item() / n}
    if confusion:
        k = num_classes or int(max(loader.y.max().item(), 0)) + 1
        pred = torch.cat(preds)
        out["confusion"] = torch.bincount(loader.y * k + pred, minlength=k * k).view(k, k).cpu()
    return out


def evaluate(model: nn.Module, data: DataLike, *, split: str = "test",
             normalization: Normalization | None = None, batch_size: int = 1024,
             device: str | torch.device | None = None, confusion: bool = False) -> dict[str, Any]:
    """Loss and accuracy of `model` on a split; with `confusion=True` also the confusion matrix
    (rows: true class, columns: predicted)."""
    normalization = normalization or default_normalization(data)
    s = data.split(split) if isinstance(data, Dataset) else as_split(data)
    dev = next(model.parameters()).device if device is None else torch.device(device)
    k = data.num_classes if isinstance(data, Dataset) else None
    loader = BatchLoader(s, batch_size, device=dev, normalization=normalization)
    return run_eval(model.to(dev), loader, confusion=confusion, num_classes=k)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, normalization: Normalization | None = None,
            batch_size: int = 1024) -> torch.Tensor:
    """Class probabilities (N, classes) for raw images `x` (N, C, H, W) in the training data's units."""
    normalization = normalization or default_normalization((x, torch.zeros(len(x), dtype=torch.long)))
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [torch.softmax(model(normalization(x[i:i + batch_size].to(dev))).float(), 1)
           for i in range(0, len(x), batch_size)]
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
