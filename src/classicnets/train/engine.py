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
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import AugmentConfig, Augmenter
from ..data.core import BatchLoader, Dataset, Normalization, Split, Task, check_finite, check_finite_array, stratified_split
from .. import testhooks
from ..errors import UserError
from ..recurrent import is_recurrent
from . import distributed
from .callbacks import Callback, EarlyStopping, KeepBest, Meter
from .checkpoint import load_state
from .config import TrainConfig
from .history import History
from .optim import make_optimizer, make_scheduler
from .position import EpochPosition, NonFiniteWatch, nonfinite_message
from .preemption import Preempted

DataLike = Dataset | Split | tuple[torch.Tensor, torch.Tensor]


def resolve_device(name: str = "auto") -> torch.device:
    """The device to train on; under torchrun the local rank's (joining the process group, see
    `train.distributed.setup`)."""
    dist = distributed.setup(name)
    if dist is not None:
        return dist.device
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
        self.dist = distributed.current()  # None in a single process; else this process's place
        self.is_main = self.dist is None or self.dist.is_main  # rank 0 writes files and shows progress
        cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        self.task = task
        self.scored = task != "regression"  # whether the task has an accuracy to count
        images = train.kind in ("image", "detection")
        self.memory_format = torch.channels_last if cuda and images else torch.contiguous_format
        if cuda and images:
            self.model.to(memory_format=torch.channels_last)
        # auto: compile on CUDA, except recurrent models (a step loop of hundreds of steps would be
        # unrolled into one huge graph; the fused cuDNN kernels gain nothing from it)
        net = self.dist.wrap(self.model, cfg.sync_bn) if self.dist is not None else self.model
        self.forward = (torch.compile(net) if cfg.compile == "on"
                        or (cfg.compile == "auto" and cuda and not is_recurrent(self.model)) else net)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 \
            else contextlib.nullcontext
        self.normalization = normalization
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.part = (self.dist.rank, self.dist.world_size) if self.dist is not None else None
        self.num_train, self.num_val = len(train), len(val) if val is not None else 0
        if self.dist is not None and self.dist.rank:  # dropout draws its own
            torch.manual_seed(distributed.rank_seed(cfg.seed, self.dist.rank))
        self.train_loader, self.val_loader = self.make_loaders(train, val, normalization, augment)
        self.steps_per_epoch = len(self.train_loader)
        self.epochs = cfg.epochs
        self.optimizer = make_optimizer(self.model, cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        self.history = History()
        self.epoch = 0  # epochs completed
        self.stop_training = False
        self.initial_loss: float | None = None  # the loss of the run's first step, for divergence
        self.position: EpochPosition | None = None  # inside an epoch: at a checkpoint, or resumed from one
        self.stop_signal: int | None = None  # set by preemption.StopOnSignal: stop after this step
        # a non-finite loss is seen at once where that is free (the CPU) or needed (skipping the step);
        # on CUDA and across processes, flags stay on the device and are read every CHECK_STEPS steps
        self.check_each_step = cfg.on_nonfinite == "skip" or (self.dist is None and not cuda)
        self.watch = None if self.check_each_step else NonFiniteWatch(distributed.CHECK_STEPS, self.device)

    def make_loaders(self, train: Split, val: Split | None, normalization: Normalization | None,
                     augment: AugmentConfig | None) -> tuple[BatchLoader, BatchLoader | None]:
        """The training loader (shuffled, augmented, drawing from `self.generator`) and the validation
        loader; with several processes each validates its part. A subclass training on other data
        (`detection.train`) gives loaders with the same `draw_order` / `batches` / `len`."""
        cfg = self.config
        aug = Augmenter(augment) if augment is not None and augment.enabled and train.kind == "image" else None
        train_loader = BatchLoader(train, cfg.batch_size, device=self.device, shuffle=True,
                                   normalization=normalization, generator=self.generator, augment=aug)
        if val is not None and self.dist is not None:
            lo, hi = distributed.shard(len(val), *self.part)
            val = Split(val.x[lo:hi], val.y[lo:hi])
        val_loader = (BatchLoader(val, cfg.eval_batch_size, device=self.device, normalization=normalization)
                      if val is not None else None)
        return train_loader, val_loader

    def step_loss(self, xb, yb, loss_fn) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor]]:
        """One training batch through the model: (the loss to minimise, the model's outputs for the
        accuracy, the loss's named parts, {} where it is one term). A detector (`detection.train`)
        returns its sum of losses, None and the losses by name."""
        logits = self.forward(xb)                                    # (batch, [time,] outputs)
        return loss_fn(logits, yb), logits, {}

    def validate(self) -> dict[str, float]:
        """Metrics on the validation split, named without their "val_" prefix."""
        if self.dist is None:
            return run_eval(self.model, self.val_loader, self.autocast, task=self.task)
        return self.dist.evaluate(self.model, self.val_loader, self.autocast, self.task)

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "data": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.dist is not None:  # every process's dropout generator (a collective: all call state())
            rng["ranks"] = [{"torch": t} for t in self.dist.gather(rng["torch"])]
            if "cuda" in rng:
                for r, t in zip(rng["ranks"], self.dist.gather(rng["cuda"])):
                    r["cuda"] = t
        return {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng,
            "history": self.history.to_dict(),
            "initial_loss": self.initial_loss,
            "position": self.position.to_state() if self.position is not None else None,
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
            if self.dist is not None and self.dist.rank:  # this rank's dropout generator, if it was saved
                ranks = s["rng"].get("ranks") or []
                mine = ranks[self.dist.rank] if self.dist.rank < len(ranks) else {}
                if "torch" in mine:
                    torch.set_rng_state(mine["torch"])
                else:  # a checkpoint from fewer processes: fresh draws, from the seed and the position
                    torch.manual_seed(distributed.rank_seed(self.config.seed + int(s["epoch"]), self.dist.rank))
                if "cuda" in mine and self.device.type == "cuda":
                    torch.cuda.set_rng_state(mine["cuda"], self.device)
            self.history = History.from_dict(s["history"])
            for cb in self.callbacks:
                name = type(cb).__name__
                if name in s["callbacks"]:
                    cb.load_state_dict(s["callbacks"][name])
            self.epoch = int(s["epoch"])
            self.initial_loss = s.get("initial_loss")
            if s.get("position") is not None:
                self.position = EpochPosition.from_state(s["position"], self.device, self.num_train,
                                                         self.steps_per_epoch)
                if self.dist is not None and self.dist.rank:  # rank 0 carries the sums so far
                    p = self.position
                    p.loss_sum.zero_(), p.correct.zero_()
                    p.seen = p.targets = 0
                    p.first = torch.zeros_like(p.first) if p.first is not None else None
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"checkpoint {path} does not match this model or configuration: "
                            f"{str(e).splitlines()[0]}") from None

    # -- the loop ---------------------------------------------------------------------------------
    def train_epoch(self, batch_callbacks: list[Callback]) -> dict[str, float]:
        model, opt, sched = self.model, self.optimizer, self.scheduler
        task, dist = self.task, self.dist
        # one process: the batch's mean loss. Several: this process's part summed, then scaled below
        loss_fn = make_loss(task, self.config.label_smoothing, "mean" if dist is None else "sum")
        world, bs, num_train = (dist.world_size if dist is not None else 1), self.config.batch_size, self.num_train
        per_example = math.prod(self.train_loader.y.shape[1:]) if dist is not None else 1  # target values per example
        scored = self.scored
        clip_norm, clip_value = self.config.clip_norm, self.config.clip_value
        params = [p for p in model.parameters() if p.requires_grad]
        meter = Meter(self.steps_per_epoch)
        # a fresh epoch, or the rest of one a checkpoint stopped inside
        pos = self.position or EpochPosition.start(self.train_loader.draw_order(), self.device)
        self.position = None
        order, loss_sum, correct, first = pos.order, pos.loss_sum, pos.correct, pos.first
        seen, targets, skipped, part_sums = pos.seen, pos.targets, pos.skipped, pos.parts
        check_each, watch = self.check_each_step, self.watch
        next_check = self._next_check(pos.step)
        model.train()
        for step, (xb, yb) in enumerate(self.train_loader.batches(order, pos.step, self.part), pos.step):
            if self.memory_format is torch.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                loss, logits, parts = self.step_loss(xb, yb, loss_fn)
            n = len(yb)
            count = n
            if dist is not None:  # DDP averages gradients over processes: make that the global batch's mean
                count = min(bs, num_train - step * bs) / world
                loss = loss / (count * per_example)
            if check_each and not self._finite(loss, step):  # --on-nonfinite skip: no update, counted
                skipped += 1
                if sched is not None:  # the schedule follows the steps, taken or skipped
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)  # "scheduler.step() before optimizer.step()"
                        sched.step()
            else:
                if watch is not None:
                    watch.add(loss)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm:  # on the device: the norm is never read back, so no sync per step
                    nn.utils.clip_grad_norm_(params, clip_norm)
                if clip_value:
                    nn.utils.clip_grad_value_(params, clip_value)
                opt.step()
                if sched is not None:
                    sched.step()
                if first is None:
                    first = loss.detach() / world  # read once, at the epoch's end: no sync per step
                loss_sum += loss.detach() * count
                for name, part in parts.items():  # a detector's losses, each summed as the loss is
                    part_sums[name] = part_sums.get(name, 0.0) + part.detach().float() * count
                seen += n
                if scored:
                    correct += (predictions(task, logits.detach(), yb.shape) == yb).sum()
                    targets += yb.numel()
            if batch_callbacks:
                meter.step, meter.loss_sum, meter.seen = step + 1, loss_sum, seen
                meter.correct, meter.targets = (correct, targets) if scored else (None, 0)
                for cb in batch_callbacks:
                    cb.on_batch_end(self, step, meter)
            if testhooks.ACTIVE:
                testhooks.pause_point("step")
            if step + 1 >= next_check or (self.stop_signal is not None and dist is None):
                next_check = self._check_point(EpochPosition(order, step + 1, loss_sum, correct, seen, targets,
                                                             first, skipped, part_sums))
        if dist is not None:  # the epoch's sums over all processes
            has_first = first is not None
            loss_total, right, seen, targets, first_total = dist.all_sum(
                [loss_sum.item(), correct.item(), seen, targets, float(first) if has_first else 0.0])
            loss_sum, correct = torch.tensor(loss_total), torch.tensor(right)
            first = torch.tensor(first_total) if has_first else None
            seen, targets = int(seen), int(targets)
        if not seen:
            raise UserError(f"every step of epoch {self.epoch + 1} had a non-finite loss, so nothing was learnt; "
                            f"lower the learning rate (now {self.config.lr:g}) or check the inputs' normalisation")
        logs = {"loss": loss_sum.item() / seen}
        logs.update({f"loss_{name}": float(v) / seen for name, v in part_sums.items()})
        if self.initial_loss is None and first is not None:
            self.initial_loss = float(first)
        if scored:
            logs["acc"] = correct.item() / targets
        if self.config.on_nonfinite == "skip":
            logs["skipped"] = skipped
        return logs

    def _finite(self, loss: torch.Tensor, step: int) -> bool:
        """Whether this step's loss is finite (agreed by all processes); with on_nonfinite "stop" a
        non-finite one ends the run here. Reads the loss: a wait for the device on CUDA."""
        ok = torch.isfinite(loss.detach())
        ok = bool(ok) if self.dist is None else self.dist.all_true(ok)
        if not ok and self.config.on_nonfinite == "stop":
            raise UserError(nonfinite_message(float(loss.detach()), self.epoch, step, self.steps_per_epoch,
                                              self.config.lr))
        return ok

    def _next_check(self, done: int) -> int:
        """Steps done in this epoch at the next check point: the next checkpoint due, the next read of
        the device's non-finite flags (or agreement between processes), else the epoch's last step."""
        nxt = self.steps_per_epoch
        if self.watch is not None or self.dist is not None:
            nxt = min(nxt, done + distributed.CHECK_STEPS)
        every = self.config.checkpoint_every
        if every:
            taken = self.epoch * self.steps_per_epoch + done  # steps since the run began
            nxt = min(nxt, done + every - taken % every)
        return nxt

    def _check_point(self, pos: EpochPosition) -> int:
        """Between two steps: stop on a non-finite loss seen since the last check, save a checkpoint
        when one is due or a stop was asked for, then stop or go on (returns the next check point)."""
        signal, bad = self.stop_signal, None
        if self.watch is not None:
            bad = self.watch.first_bad(pos.step)
        if self.dist is not None:  # every process must take the same decision
            signal, step = self.dist.agree(signal, bad[0] if bad is not None else None)
            if step is not None:
                bad = (step, bad[1] if bad is not None and bad[0] == step else float("nan"))
        if bad is not None:
            raise UserError(nonfinite_message(bad[1], self.epoch, bad[0], self.steps_per_epoch, self.config.lr))
        every = self.config.checkpoint_every
        due = every and (self.epoch * self.steps_per_epoch + pos.step) % every == 0
        if signal is not None or (due and pos.step < self.steps_per_epoch):
            self.save_position(pos)
        if signal is not None:
            raise Preempted(signal, self.epoch, pos.step)
        return self._next_check(pos.step)

    def save_position(self, pos: EpochPosition) -> None:
        """Checkpoint the run inside an epoch: callbacks' `on_checkpoint` see `state()` with `pos`."""
        if self.dist is not None:  # the sums so far over all processes, kept by rank 0
            loss_total, right, seen, targets, first = self.dist.all_sum(
                [pos.loss_sum.item(), pos.correct.item(), pos.seen, pos.targets,
                 float(pos.first) if pos.first is not None else 0.0])
            pos = EpochPosition(pos.order, pos.step, torch.tensor(loss_total, dtype=torch.float32),
                                torch.tensor(int(right)), int(seen), int(targets),
                                torch.tensor(first) if pos.first is not None else None, pos.skipped)
        self.position = pos
        try:
            for cb in self.callbacks:
                cb.on_checkpoint(self)
        finally:
            self.position = None

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
                    logs.update({f"val_{k}": v for k, v in self.validate().items()})
                logs["lr"] = self.optimizer.param_groups[0]["lr"]
                self.history.append(epoch, logs)
                self.epoch = epoch + 1
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                signal = self.stop_signal  # asked during validation or the epoch's callbacks
                if self.dist is not None:
                    signal, _ = self.dist.agree(signal, None)
                if signal is not None and self.epoch < self.epochs and not self.stop_training:
                    raise Preempted(signal, self.epoch, 0)  # the epoch's checkpoint is being written
            for cb in self.callbacks:
                cb.on_train_end(self)
        except BaseException as e:
            self._close_callbacks(e)
            raise
        self._close_callbacks(None)
        return self.history

    def _close_callbacks(self, error: BaseException | None) -> None:
        """Close every callback (each waits for its files), even if one fails. A failure to write is
        raised unless another error is already on its way (an interruption does not hide it)."""
        failures = []
        for cb in self.callbacks:
            try:
                cb.close()
            except Exception as e:  # noqa: BLE001 - the first is raised below
                failures.append(e)
        if failures and (error is None or isinstance(error, KeyboardInterrupt)):
            raise failures[0]


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
    `resume` names a checkpoint written by the `Checkpoint` callback to continue from (at an epoch's
    end, or inside an epoch: `config.checkpoint_every`, a stop on a signal with `StopOnSignal`).
    In a process started by torchrun, `fit` trains data parallel (see `train.distributed`).
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
    if config.monitor == "val_map50" and (config.early_stopping or config.keep_best):
        raise UserError("--monitor val_map50 is the mAP of a detection run; a classifier monitors val_loss, "
                        "val_acc, loss or acc")
    if task == "regression" and config.monitor.endswith("acc") and (config.early_stopping or config.keep_best):
        raise UserError(f"a regression task has no accuracy to monitor; use --monitor val_loss or loss")
    torch.manual_seed(config.seed)  # weights are initialised by the caller, dropout draws from here
    trainer = Trainer(model, train, val, config, normalization, augment,
                      with_stopping(callbacks, config, config.monitor), task)
    return run_trainer(trainer, resume, normalization)


def with_stopping(callbacks, config: TrainConfig, monitor: str) -> list[Callback]:
    """`callbacks` plus the ones the configuration asks for: early stopping and keeping the best epoch."""
    cbs = list(callbacks)
    if config.early_stopping:
        cbs.append(EarlyStopping(config.early_stopping, monitor))
    if config.keep_best:
        cbs.append(KeepBest(monitor))
    return cbs


def run_trainer(trainer: Trainer, resume: str | None, normalization: Normalization | None) -> History:
    """Resume `trainer` from a checkpoint if asked, train it, and return its history (with the
    normalisation its inputs had, for evaluate and predict)."""
    if resume is not None:
        trainer.load_checkpoint(resume)
        if trainer.epoch > trainer.config.epochs:
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
