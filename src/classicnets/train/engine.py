"""fit: the training engine.

The loop is the one a careful PyTorch user writes by hand (forward, loss, backward, step) with the
epoch's loss and accuracy summed on the device, so nothing waits for the device per step. On CUDA
it adds channels_last (for images), bf16 autocast and torch.compile (each switchable in `TrainConfig`).

The loss follows the data set's task (`Dataset.task`, or from the targets' dtype for tensors; see
`train.losses`). What one process or several do differently is the trainer's strategy
(`train.strategy`); what another kind of model trains on and how it is validated (a detector's
batches of boxes, its losses by name, its mAP) are the trainer's `Hooks`. Evaluation and
prediction are `train.evaluation`'s.
"""
from __future__ import annotations

import contextlib
import math
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import testhooks
from ..config import TrainConfig
from ..data.augment import AugmentConfig, Augmenter
from ..data.core import BatchLoader, Dataset, Normalization, Split, Task, check_finite
from ..errors import UserError
from ..recurrent import is_recurrent
from .callbacks import Callback, EarlyStopping, KeepBest, Meter
from .checkpoint import load_state
from .distributed import CHECK_STEPS, setup
from .evaluation import DataLike, as_split, default_normalization, run_eval, task_of
from .history import History
from .losses import make_loss, predictions
from .optim import make_optimizer, make_scheduler
from .position import EpochPosition, NonFiniteWatch, nonfinite_message
from .preemption import Preempted
from .strategy import strategy
from .tta import with_tta


def resolve_device(name: str = "auto") -> torch.device:
    """The device to train on; under torchrun the local rank's (joining the process group, see
    `train.distributed.setup`)."""
    dist = setup(name)
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


# A training loss this many times its value at the first step is divergence, not a bad epoch.
DIVERGENCE_FACTOR = 1000.0


def _check_input(model_input: tuple[int, ...], split: Split, what: str) -> None:
    if tuple(split.x.shape[1:]) != tuple(model_input):
        raise UserError(f"{what} inputs are {tuple(split.x.shape[1:])} but training inputs are "
                        f"{tuple(model_input)}")


# -- what a kind of model changes in the loop ------------------------------------------------------
def batch_loaders(trainer: Trainer, train: Split, val: Split | None) -> tuple[BatchLoader, BatchLoader | None]:
    """The training loader (shuffled, augmented, drawing from the trainer's generator) and the
    validation loader, holding this process's part of the validation split."""
    cfg, aug = trainer.config, trainer.augment
    augmenter = Augmenter(aug) if aug is not None and aug.enabled and train.kind == "image" else None
    train_loader = BatchLoader(train, cfg.batch_size, device=trainer.device, shuffle=True,
                               normalization=trainer.normalization, generator=trainer.generator, augment=augmenter)
    if val is None:
        return train_loader, None
    return train_loader, BatchLoader(trainer.strategy.shard(val), cfg.eval_batch_size, device=trainer.device,
                                     normalization=trainer.val_normalization or trainer.normalization)


def model_loss(trainer: Trainer, xb, yb, loss_fn) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor]]:
    """One training batch through the model: (the loss to minimise, the outputs the accuracy is
    counted on, the loss's named parts: none, it is one term)."""
    logits = trainer.forward(xb)                                     # (batch, [time,] outputs)
    return loss_fn(logits, yb), logits, {}


def validate_loss_acc(trainer: Trainer) -> dict[str, float]:
    """Loss and accuracy on the validation split, over every process's part."""
    return run_eval(with_tta(trainer.model, trainer.config.tta), trainer.val_loader, trainer.autocast,
                    task=trainer.task,
                    strategy=trainer.strategy)


@dataclass(frozen=True)
class Hooks:
    """What a kind of model changes in the loop; the defaults train a classifier or a regressor.
    `loaders(trainer, train, val)` gives loaders with `draw_order`, `batches(order, start, part)` and
    `len`; `step_loss(trainer, xb, yb, loss_fn)` gives (loss, outputs for the accuracy or None,
    {name: loss part}); `validate(trainer)` the validation metrics without their "val_" prefix."""

    loaders: Callable[..., tuple[Any, Any]] = batch_loaders
    step_loss: Callable[..., tuple[torch.Tensor, Any, dict[str, torch.Tensor]]] = model_loss
    validate: Callable[[Trainer], dict[str, float]] = validate_loss_acc
    compile: bool = True   # whether compile="auto" compiles on CUDA (a detector's shapes change every step)


class Trainer:
    """The state of one training run; `fit` drives it. Callbacks read and change it."""

    def __init__(self, model: nn.Module, train: Split, val: Split | None, config: TrainConfig,
                 normalization: Normalization | None, augment: AugmentConfig | None,
                 callbacks: list[Callback], task: Task | str = "multiclass", *, hooks: Hooks = Hooks(),
                 val_normalization: Normalization | None = None):
        self.config = cfg = config
        self.val_normalization = val_normalization  # the validation split's, where it is not the training one's
        self.device = resolve_device(cfg.device)
        self.strategy = strategy()            # one process, or this one's place among several
        self.is_main = self.strategy.is_main  # rank 0 writes files and shows progress
        self.hooks, self.task, self.augment, self.normalization = hooks, task, augment, normalization
        cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        self.scored = task in ("multiclass", "binary")  # whether the task has an accuracy to count
        self.channels_last = cuda and train.kind in ("image", "detection")
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # auto: compile on CUDA, except recurrent models (a step loop of hundreds of steps would be
        # unrolled into one huge graph; the fused cuDNN kernels gain nothing from it)
        net = self.strategy.wrap(self.model, cfg.sync_bn)
        self.forward = (torch.compile(net) if cfg.compile == "on" or (
            cfg.compile == "auto" and cuda and hooks.compile and not is_recurrent(self.model)) else net)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 \
            else contextlib.nullcontext
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.num_train, self.num_val = len(train), len(val) if val is not None else 0
        self.strategy.seed_dropout(cfg.seed)
        self.train_loader, self.val_loader = hooks.loaders(self, train, val)
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
        self.check_each_step = cfg.on_nonfinite == "skip" or (self.strategy.check_steps is None and not cuda)
        self.watch = None if self.check_each_step else NonFiniteWatch(CHECK_STEPS, self.device)

    def validate(self) -> dict[str, float]:
        """Metrics on the validation split, named without their "val_" prefix."""
        return self.hooks.validate(self)

    # -- checkpointing ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "data": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        ranks = self.strategy.gather_rng(rng)  # every process's dropout generator (a collective)
        if ranks is not None:
            rng["ranks"] = ranks
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
            self.strategy.restore_rng(s["rng"], self.config.seed, int(s["epoch"]))
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
                self.strategy.localize(self.position)
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise UserError(f"checkpoint {path} does not match this model or configuration: "
                            f"{str(e).splitlines()[0]}") from None

    # -- the loop ---------------------------------------------------------------------------------
    def train_epoch(self, batch_callbacks: list[Callback]) -> dict[str, float]:
        model, opt, sched, task, strategy = self.model, self.optimizer, self.scheduler, self.task, self.strategy
        cfg, scored = self.config, self.scored
        # one process: the batch's mean loss; several: this process's part summed, scaled to the global mean
        loss_fn = make_loss(task, cfg.label_smoothing, strategy.loss_reduction)
        bs, num_train = cfg.batch_size, self.num_train
        params = [p for p in model.parameters() if p.requires_grad]
        meter = Meter(self.steps_per_epoch)
        # a fresh epoch, or the rest of one a checkpoint stopped inside
        pos = self.position or EpochPosition.start(self.train_loader.draw_order(), self.device)
        self.position = None
        order, loss_sum, correct, first = pos.order, pos.loss_sum, pos.correct, pos.first
        seen, targets, skipped, part_sums = pos.seen, pos.targets, pos.skipped, pos.parts
        check_each, watch, at_once = self.check_each_step, self.watch, strategy.check_steps is None
        next_check = self._next_check(pos.step)
        model.train()
        for step, (xb, yb) in enumerate(self.train_loader.batches(order, pos.step, strategy.part), pos.step):
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with self.autocast():
                loss, logits, parts = self.hooks.step_loss(self, xb, yb, loss_fn)
            loss, count = strategy.scale_loss(loss, yb, step, bs, num_train)
            if check_each and not self._finite(loss, step):  # --on-nonfinite skip: no update, counted
                skipped += 1
                self._skip_step()
            else:
                if watch is not None:
                    watch.add(loss)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip_norm:  # on the device: the norm is never read back, so no sync per step
                    nn.utils.clip_grad_norm_(params, cfg.clip_norm)
                if cfg.clip_value:
                    nn.utils.clip_grad_value_(params, cfg.clip_value)
                opt.step()
                if sched is not None:
                    sched.step()
                if first is None:
                    first = loss.detach() / strategy.world_size  # read once, at the epoch's end: no sync per step
                loss_sum += loss.detach() * count
                for name, part in parts.items():  # a detector's losses, each summed as the loss is
                    part_sums[name] = part_sums.get(name, 0.0) + part.detach().float() * count
                seen += len(yb)
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
            if step + 1 >= next_check or (self.stop_signal is not None and at_once):
                next_check = self._check_point(EpochPosition(order, step + 1, loss_sum, correct, seen, targets,
                                                             first, skipped, part_sums))
        return self._epoch_logs(EpochPosition(order, self.steps_per_epoch, loss_sum, correct, seen, targets,
                                              first, skipped, part_sums))

    def _skip_step(self) -> None:
        """A step without an update: the schedule still follows the steps, taken or skipped."""
        if self.scheduler is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "scheduler.step() before optimizer.step()"
                self.scheduler.step()

    def _epoch_logs(self, pos: EpochPosition) -> dict[str, float]:
        """The epoch's metrics from its sums, over every process."""
        loss_total, right, seen, targets, first = self.strategy.sum(
            [pos.loss_sum.item(), pos.correct.item(), pos.seen, pos.targets,
             float(pos.first) if pos.first is not None else 0.0])
        seen, targets = int(seen), int(targets)
        if not seen:
            raise UserError(f"every step of epoch {self.epoch + 1} had a non-finite loss, so nothing was learnt; "
                            f"lower the learning rate (now {self.config.lr:g}) or check the inputs' normalisation")
        logs = {"loss": loss_total / seen}
        logs.update({f"loss_{name}": float(v) / seen for name, v in pos.parts.items()})
        if self.initial_loss is None and pos.first is not None:
            self.initial_loss = float(first)
        if self.scored:
            logs["acc"] = right / targets
        if self.config.on_nonfinite == "skip":
            logs["skipped"] = pos.skipped
        return logs

    def _finite(self, loss: torch.Tensor, step: int) -> bool:
        """Whether this step's loss is finite (agreed by all processes); with on_nonfinite "stop" a
        non-finite one ends the run here. Reads the loss: a wait for the device on CUDA."""
        ok = self.strategy.all_true(torch.isfinite(loss.detach()))
        if not ok and self.config.on_nonfinite == "stop":
            raise UserError(nonfinite_message(float(loss.detach()), self.epoch, step, self.steps_per_epoch,
                                              self.config.lr))
        return ok

    def _next_check(self, done: int) -> int:
        """Steps done in this epoch at the next check point: the next checkpoint due, the next read of
        the device's non-finite flags (or agreement between processes), else the epoch's last step."""
        nxt = self.steps_per_epoch
        if self.watch is not None or self.strategy.check_steps is not None:
            nxt = min(nxt, done + CHECK_STEPS)
        every = self.config.checkpoint_every
        if every:
            taken = self.epoch * self.steps_per_epoch + done  # steps since the run began
            nxt = min(nxt, done + every - taken % every)
        return nxt

    def _check_point(self, pos: EpochPosition) -> int:
        """Between two steps: stop on a non-finite loss seen since the last check, save a checkpoint
        when one is due or a stop was asked for, then stop or go on (returns the next check point)."""
        bad = self.watch.first_bad(pos.step) if self.watch is not None else None
        # every process must take the same decision
        signal, step = self.strategy.agree(self.stop_signal, bad[0] if bad is not None else None)
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
        """Checkpoint the run inside an epoch: callbacks' `on_checkpoint` see `state()` with `pos`
        (its sums over every process)."""
        self.position = self.strategy.reduce_position(pos)
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
                signal, _ = self.strategy.agree(self.stop_signal, None)  # asked during validation or callbacks
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


def resolve_splits(data, validation_data, config: TrainConfig):
    """The training and validation splits `fit` uses for `data` and `config`: the data set's own
    validation split; or `validation_data`; or the test split (`validate_on="test"`); or a held-out
    fraction of the training split (`Split.hold_out`, or a detection split's own rule), stratified
    and seeded, or its last fraction before any shuffling, as Keras's `validation_split` takes it
    (`val_split_mode="last"`)."""
    if isinstance(data, (Split, tuple)):
        train, val = as_split(data), None
    else:  # a data set: classes (Dataset) or boxes (detection's)
        train, val = data.train, data.val
    if validation_data is not None:
        val = as_split(validation_data)
    elif config.validate_on == "test":
        if getattr(data, "test", None) is None:
            raise UserError("--validate-on test needs a data set with a test split")
        val = data.test
    elif config.val_split:
        train, val = train.hold_out(config.val_split, config.val_split_mode, config.seed)
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
    val_normalization = None  # validating on the test split read literally (`config.test_normalize`)
    if config.validate_on == "test" and validation_data is None and isinstance(data, Dataset):
        val_normalization = data.test_normalization(normalization, config.normalize, config.test_normalize)
    task = task or task_of(data)
    if config.monitor == "val_map50" and (config.early_stopping or config.keep_best):
        raise UserError("--monitor val_map50 is the mAP of a detection run; a classifier monitors val_loss, "
                        "val_acc, loss or acc")
    if task == "regression" and config.monitor.endswith("acc") and (config.early_stopping or config.keep_best):
        raise UserError("a regression task has no accuracy to monitor; use --monitor val_loss or loss")
    torch.manual_seed(config.seed)  # weights are initialised by the caller, dropout draws from here
    stopping = with_stopping(callbacks, config, higher_is_better=config.monitor.endswith("acc"))
    return run_trainer(Trainer(model, train, val, config, normalization, augment, stopping, task,
                               val_normalization=val_normalization), resume, normalization)


def with_stopping(callbacks, config: TrainConfig, *, higher_is_better: bool) -> list[Callback]:
    """`callbacks` plus the ones the configuration asks for: early stopping and keeping the best epoch
    by `config.monitor`, which improves upwards (an accuracy, a mAP) or downwards (a loss)."""
    cbs = list(callbacks)
    mode = "max" if higher_is_better else "min"
    if config.early_stopping:
        cbs.append(EarlyStopping(config.early_stopping, config.monitor, mode=mode))
    if config.keep_best:
        cbs.append(KeepBest(config.monitor, mode=mode))
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
