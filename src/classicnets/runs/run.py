"""A whole training run: configuration -> data -> model -> fit -> run directory.

One path for every way a run is started: `classicnets train`, the Python API
(`cn.train_run(cn.RunConfig(model="lenet", data="digits"))`), and what builds on them.

The order is chosen so that a mistake never leaves a half-made run behind:
1. every setting is checked (`TrainConfig.validate`, `AugmentConfig.validate`);
2. the data are loaded and checked (finite inputs), the model is built from the seed and run once on
   the data's input shape, and its outputs are checked against the labels;
3. only then is the run directory claimed: created atomically, with `config.json` written
   exclusively, so two runs started in the same second never share a directory;
4. `fit` trains, callbacks write `metrics.csv` and a checkpoint after every epoch;
5. weights, curves and `results.json` (last: its presence marks a finished run) are written.
A new run that fails or is interrupted before its first epoch ends is removed again, so a rerun of
the same command starts cleanly; after that, `resume_run` continues it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import UserError
from ..fileio import PATH_MAX, check_path_length, shorten, write_json, write_json_exclusive
from ..record import (
    CARD,
    CHECKPOINT,
    CONFIG,
    CURVES,
    METRICS,
    RESULTS,
    WEIGHTS,
    ModelCard,
    read_config,
    read_json,
    read_results,
    run_state,
    write_card,
)
from . import tasks
from .lock import LOCK, RunLock
from .rundir import save_model
from .tasks.base import Prepared

Log = Callable[[str], None]


@dataclass
class RunResult:
    run: Path                      # the run directory
    history: Any                   # train.History of the whole run (resumed epochs included)
    results: dict[str, Any]        # what results.json holds
    resumed_from: int | None = None  # epochs already done when this call resumed the run
    finished_before: bool = False  # resume found the run already finished; nothing was trained


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare(cfg: RunConfig, *, warn: Log = _stderr, base_only: bool = False) -> Prepared:
    """Check the settings, load and check the data, choose the run's task, build the model:
    everything before the run directory. `base_only`: only the base will be used (`extract_features`)."""
    from ..data import load_dataset
    from ..train.engine import resolve_device
    from ..zoo import model_info

    cfg.train.validate()
    cfg.augment.validate()
    cfg.transfer.validate()
    device = resolve_device(cfg.train.device)
    data = load_dataset(cfg.data, data_dir=cfg.data_dir, **cfg.data_args)
    task = tasks.choose(model_info(cfg.model).task, data.kind, getattr(data, "task", "multiclass")).load()
    p = task.prepare(cfg, data, device, warn, base_only=base_only)
    _check_validation(p.data, cfg.train)
    return p


def _check_validation(data, t) -> None:
    """A validation split that cannot be drawn, refused now rather than inside fit, after the run's
    header: drawn as fit draws it, on the labels alone where it can (no inputs copied)."""
    import torch

    from ..data.core import Split
    from ..train.engine import resolve_splits

    train = data.train
    if t.validate_on != "test" and t.val_split and isinstance(train, Split):
        Split(torch.empty(len(train), 0), train.y).hold_out(t.val_split, t.val_split_mode, t.seed)
    else:  # nothing is drawn, or a detection split's own rule on its images
        resolve_splits(data, None, t)


# -- the run directory ----------------------------------------------------------------------------
DATA_NAME_BYTES = 64  # of the data's name in a generated run name: a long file name must not make it too long


def run_name(stamp: str, cfg: RunConfig) -> str:
    """The generated name of a run directory: time, model, and the data's name (its start, if long)."""
    return f"{stamp}-{shorten(cfg.model, DATA_NAME_BYTES)}-{shorten(Path(cfg.data).name, DATA_NAME_BYTES)}"


def check_run_path(out: str | os.PathLike | None, runs_dir: str | os.PathLike) -> None:
    """An --out or --runs-dir the file system cannot take, refused before any work."""
    if out is not None:
        if not os.fspath(out).strip():
            raise UserError("--out is empty; name a directory for the run (or leave --out out for one under --runs-dir)")
        check_path_length(out, "--out")
        return
    check_path_length(runs_dir, "--runs-dir")
    longest_name = len("YYYYmmdd-HHMMSS--") + 2 * DATA_NAME_BYTES + len("-9999")
    if len(os.fsencode(runs_dir)) + 1 + longest_name >= PATH_MAX:
        raise UserError(f"--runs-dir is {len(os.fsencode(runs_dir))} bytes long, leaving no room for a run's name "
                        f"in a path of fewer than {PATH_MAX}; choose a shorter --runs-dir, or name the run with --out")


def claim_run_dir(out: str | os.PathLike | None, runs_dir: str | os.PathLike, cfg: RunConfig,
                  record: dict[str, Any]) -> tuple[Path, bool]:
    """Create the run directory with its `config.json`, exclusively: (path, whether the directory was made).

    `out` may name a new or an empty directory; without it a name is made from the time, the model
    and the data, with a suffix when another run took it first (even in the same second).
    """
    check_run_path(out, runs_dir)
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} is a file, not a directory; name a new directory for the run")
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create run directory {path}: {e.strerror}") from None
        refuse_existing_run(path)
        try:
            write_json_exclusive(path / CONFIG, record)
        except FileExistsError:
            refuse_existing_run(path)
            raise
        except OSError as e:
            raise UserError(f"cannot write in run directory {path}: {e.strerror}") from None
        return path, created
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir)
    if base.exists() and not base.is_dir():
        raise UserError(f"--runs-dir {base} is a file, not a directory")
    for i in range(1, 10_000):
        path = base / (run_name(stamp, cfg) + (f"-{i}" if i > 1 else ""))
        try:
            path.mkdir(parents=True)  # atomic: exactly one process creates it
        except FileExistsError:
            continue
        except OSError as e:
            raise UserError(f"cannot create run directory {path}: {e.strerror}") from None
        write_json_exclusive(path / CONFIG, record)
        return path, True
    raise UserError(f"cannot find a free run directory name under {base}")


def refuse_existing_run(path: Path) -> None:
    """`UserError` if `path` already holds a run (finished, interrupted or never started): never overwritten."""
    state = run_state(path)
    if state == "finished":
        raise UserError(f"{path} already holds a finished run; choose another --out, or `classicnets "
                        f"evaluate {path}` to use it")
    if state == "interrupted":
        raise UserError(f"{path} already holds a run; continue it with --resume {path} or choose another --out")
    if state == "not started":
        raise UserError(f"{path} already holds a run that never finished an epoch; start it again with "
                        f"--resume {path}, or choose another --out")


def _remove_new_run(path: Path, created: bool) -> None:
    """Undo a new run that ended before its first checkpoint: its files, and the directory if we made it."""
    for name in (CONFIG, CARD, METRICS, CURVES, CHECKPOINT, LOCK):
        p = path / name
        if p.is_dir():
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    shutil.rmtree(path / "tensorboard", ignore_errors=True)
    for p in path.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
    if created:
        with contextlib.suppress(OSError):
            path.rmdir()


# -- training ---------------------------------------------------------------------------------------
def _wall_clock():
    """A callback adding up the seconds spent in finished epochs, kept in the checkpoint so that a
    resumed run reports its whole training time; `total()` adds what the task did after the last
    epoch (R-CNN's later stages, say)."""
    from ..train import Callback

    class WallClock(Callback):
        seconds = 0.0

        def on_train_begin(self, trainer):
            self._last = time.perf_counter()

        def on_epoch_end(self, trainer, epoch, logs):
            now = time.perf_counter()
            self.seconds += now - self._last
            self._last = now

        def total(self) -> float:
            return self.seconds + (time.perf_counter() - self._last if hasattr(self, "_last") else 0.0)

        def state_dict(self):  # inside an epoch (a checkpoint there), the epoch's time so far counts too
            return {"seconds": self.seconds + (time.perf_counter() - self._last)}

        def load_state_dict(self, state):
            self.seconds = float(state.get("seconds", 0.0))
    return WallClock()


def _card(p: Prepared) -> ModelCard:
    cfg, data = p.config, p.data
    vocab = data.vocab.truncated().to_dict() if getattr(data, "vocab", None) is not None else None
    return ModelCard(cfg.model, cfg.model_args, list(data.input_shape), data.classes,
                     p.normalization.to_dict() if p.normalization else None, cfg.data,
                     cfg.data_args, data.task, vocab, cfg.transfer.head or None)


def extract_config(target: str | os.PathLike, *, model_args: dict[str, Any], data: str | None,
                   data_args: dict[str, Any], data_dir: str | None, weights: str | None,
                   device: str = "auto") -> RunConfig:
    """The settings `extract_features` runs with for `target`: a run directory (its model, its final
    weights and preprocessing; `data` may replace its data) or a registry model name (with `weights`,
    on `data`, default digits)."""
    from ..config import TransferConfig

    target = Path(target)
    if target.is_dir():
        cfg = read_config(target)
        if weights or model_args:
            raise UserError("a run directory brings its own model and weights; leave out --weights and --arg")
        cfg.transfer = TransferConfig(weights=str(target))
        cfg.model_args = {k: v for k, v in cfg.model_args.items() if k != "num_classes"}
        if data:
            cfg.data, cfg.data_args, cfg.data_dir = data, data_args, data_dir
    else:
        cfg = RunConfig(model=str(target), model_args=model_args, data=data or "digits", data_dir=data_dir,
                        data_args=data_args, transfer=TransferConfig(weights=weights or ""))
    cfg.train = dataclasses.replace(cfg.train, device=device)
    return cfg


EXTRACT_EXAMPLE = "mobilenet"  # the course's transfer-learning base (tests check it is registered)


def extract_features(cfg: RunConfig, *, log: Log = print, warn: Log = _stderr):
    """Method 1's first half on its own: the frozen base of `cfg`'s model (with `cfg.transfer.weights`)
    run once over `cfg.data`, cached where `train --features` with the same model, weights and data
    finds it. Returns (features Dataset, cache path, whether the cache was reused)."""
    from ..transfer.features import extract
    from ..transfer.heads import Transferred, base_of
    from ..zoo import model_info
    from .tasks.classify import feature_identity

    if model_info(cfg.model).task == "detection":
        raise UserError(f"{cfg.model} is a detection model, trained end to end; extract caches a classifier "
                        f"base's features (e.g. {EXTRACT_EXAMPLE}'s)")
    p = prepare(cfg, warn=warn, base_only=True)
    base = p.model.base if isinstance(p.model, Transferred) else base_of(p.model)
    return extract(base.to(p.device), p.data, p.normalization, feature_identity(p, base), p.device, log=log)


@contextlib.contextmanager
def _write_errors(run: Path):
    """A full disk or a read-only run directory while finishing, as one sentence: the checkpoint is intact."""
    try:
        yield
    except OSError as e:
        raise UserError(f"cannot write in {run} ({e.strerror or e}); the run's checkpoint is intact, so "
                        f"once there is room (or the directory is writable) `classicnets train --resume {run}` "
                        f"finishes it") from None


def _finish(run: Path, p: Prepared, history, log: Log, course: dict[str, Any] | None = None,
            wall_time_s: float = 0.0, note: Log | None = None) -> dict[str, Any]:
    from ..runs.plots import plot_curves

    with _write_errors(run):
        save_model(run, p.model)
        plot_curves(history.history, run / CURVES, title=f"{p.config.model} on {p.config.data}")
    results: dict[str, Any] = {"epochs": len(history.epoch), "wall_time_s": round(wall_time_s, 3)}
    if "skipped" in history.history:  # --on-nonfinite skip: steps without an update
        results["skipped_steps"] = int(sum(history.history["skipped"]))
    if p.data.test is not None:
        results.update(p.task.test(p, log))
    line = None
    if course is not None:
        line, value = course_comparison(course, history, results)
        results["course"] = {**course, "run_value": value}
    with _write_errors(run):
        write_json(run / RESULTS, results)  # last: a finished run is one with results
    if note is not None:
        note(f"Saved {run}")
    if line is not None:  # the course's figure beside the run's, as the last word
        log(line)
    return results


def describe_settings(cfg: RunConfig, data=None, preprocessing: dict[str, Any] | None = None) -> str:
    """Every setting that shapes a run, in one paragraph: printed at the top of each run. With the
    loaded `data`, a run without any validation says so; with the `preprocessing` the weights brought
    (`Normalization.to_dict()`, the "preprocessing" of `Prepared.transfer`), it is named instead of
    `--normalize`, which it replaces."""
    from ..transfer.published import describe_preprocessing

    t, a = cfg.train, cfg.augment
    opt = f"{t.optimizer} lr {t.lr:g}"
    if t.optimizer == "sgd":
        opt += f" momentum {t.momentum:g}" + (" nesterov" if t.nesterov else "")
    if t.weight_decay:
        opt += f" weight decay {t.weight_decay:g}"
    sched = {"constant": "constant" + (f", decay {t.decay:g} per step" if t.decay else ""),
             "step": f"step x{t.gamma:g} every {t.step_epochs} epochs", "cosine": "cosine",
             "onecycle": "one-cycle", "piecewise": f"piecewise {t.lr_at}"}[t.schedule]
    if t.validate_on == "test":
        val = "validate on test"
    elif t.val_split:
        val = f"validate on {'the last' if t.val_split_mode == 'last' else 'a stratified'} {t.val_split:g} of train"
    elif data is not None and data.val is None:
        val = "no validation"
    else:
        val = "validate on the data set's validation split"
    norm = None
    if preprocessing is not None:
        from ..data.core import Normalization
        norm = Normalization.from_dict(preprocessing)
    parts = [f"{opt} ({sched})", f"batch {t.batch_size}", f"{t.epochs} epochs", val,
             describe_preprocessing(norm, t.normalize)]
    if t.test_normalize != "train":
        parts.append("the test split normalised " + ("with its own statistics" if t.test_normalize == "own"
                                                     else "not at all (raw values)"))
    if t.label_smoothing:
        parts.append(f"label smoothing {t.label_smoothing:g}")
    if t.clip_norm:
        parts.append(f"gradient norm clipped at {t.clip_norm:g}")
    if t.clip_value:
        parts.append(f"gradient values clipped at ±{t.clip_value:g}")
    if t.early_stopping:
        parts.append(f"early stopping {t.early_stopping} on {t.monitor}")
    if t.keep_best:
        parts.append(f"keep best by {t.monitor}")
    aug = [f"{f.name}={getattr(a, f.name):g}" if isinstance(getattr(a, f.name), float) else f"{f.name}={getattr(a, f.name)}"
           for f in dataclasses.fields(a) if getattr(a, f.name) and f.name != "fill_mode"]
    parts.append("augment " + ", ".join(aug + [f"fill_mode={a.fill_mode}"]) if aug else "no augmentation")
    if t.tta != "none":
        parts.append(f"test-time augmentation {t.tta}")
    tr = cfg.transfer
    if tr.enabled:
        bits = [f"weights {tr.weights}" if tr.weights else "", f"head {tr.head}" if tr.head else "",
                f"freeze {tr.freeze}" if tr.freeze else "", f"unfreeze top {tr.unfreeze_top}" if tr.unfreeze_top else "",
                "features extracted once (method 1)" if tr.features else "",
                f"base lr {t.base_lr:g}" if t.base_lr else ""]
        parts.append("transfer: " + "; ".join(b for b in bits if b))
    if t.on_nonfinite == "skip":
        parts.append("steps with a non-finite loss skipped")
    if t.sync_bn:
        parts.append("synchronised BatchNorm")
    if t.checkpoint_every:
        parts.append(f"checkpoint every {t.checkpoint_every} steps")
    parts.append(f"seed {t.seed}")
    return ", ".join(parts)


def course_comparison(course: dict[str, Any], history, results: dict[str, Any]) -> tuple[str, float | None]:
    """("course: 89.95% val after 50 epochs · this run: 90.12% val after 50 epochs", run's value) for a
    recipe's `CourseFigure` (as a dict) and a finished run: like with like (`CourseFigure.run_value`),
    the run's best epoch beside a course's best, its last beside a course's last."""
    from ..recipes import CourseFigure

    fig = CourseFigure(**course)
    series = history.history.get(fig.metric) if history is not None else None
    value, epoch = fig.run_value(series, results)
    if value is None:
        mine = "no value to compare"
    else:
        at = epoch if fig.best else (len(history.epoch) if history is not None else results.get("epochs"))
        mine = CourseFigure(fig.metric, value, at, "", "", best=fig.best).describe()
    return f"{fig.by}: {fig.describe()} · this run: {mine}", value


def train_run(cfg: RunConfig, *, out: str | os.PathLike | None = None, runs_dir: str | os.PathLike = "runs",
              callbacks: Sequence = (), log: Log = print, warn: Log = _stderr,
              command: str | None = None, on_start: Callable[[Path, Prepared], None] | None = None,
              recipe: dict[str, Any] | None = None, note: Log | None = None) -> RunResult:
    """Train a new run of `cfg` into a new run directory (`out`, or a fresh one under `runs_dir`).

    `callbacks` are added to the run's own (metrics.csv, checkpoint); `log` gets the test result,
    `warn` notes such as skipped files; `on_start(run, prepared)` is called once the directory exists.
    `recipe` is the provenance from `recipes.apply_overrides` (or `train_recipe`): recorded in
    config.json, and the course's figure is set beside the run's in results.json (and logged last).
    `note` gets "Saved RUN" once everything is written.
    """
    from ..train import Checkpoint, CSVLogger, distributed
    from ..train.engine import environment
    from ..train.preemption import StopOnSignal

    cfg = dataclasses.replace(cfg, model_args=dict(cfg.model_args), data_args=dict(cfg.data_args),
                              train=dataclasses.replace(cfg.train), augment=dataclasses.replace(cfg.augment))
    cfg.train.validate()
    check_run_path(out, runs_dir)
    dist = distributed.setup(cfg.train.device)  # under torchrun: join the others before anything can fail
    p = distributed.everywhere(lambda: prepare(cfg, warn=warn))
    record = {**cfg.to_dict(), "device": str(p.device), "environment": environment(),
              "command": command or "classicnets.train_run"}
    if dist is not None:
        record["distributed"] = distributed.describe(dist)
    if recipe is not None:
        record["recipe"] = recipe
    if p.transfer:
        record["transfer_loaded"] = p.transfer

    def claim() -> tuple[Path, bool, RunLock]:  # rank 0 makes and holds the directory
        run, created = claim_run_dir(out, runs_dir, cfg, record)
        return run, created, RunLock(run).acquire()
    run, created, lock = distributed.on_main(claim) or (None, False, None)
    if dist is not None:
        run = Path(dist.broadcast_text(str(run) if dist.is_main else ""))
    try:
        try:
            if lock is not None:
                write_card(run, _card(p))
                if on_start is not None:
                    on_start(run, p)
            clock = _wall_clock()
            history = p.task.fit(p, [StopOnSignal(), clock, *callbacks, CSVLogger(run / METRICS),
                                      Checkpoint(run / CHECKPOINT)], None, log)
        except BaseException:
            if lock is not None and not (run / CHECKPOINT).exists():
                _remove_new_run(run, created)
            raise
        if lock is None:  # another process of a data parallel run: rank 0 writes the results
            return RunResult(run, history, {})
        return RunResult(run, history, _finish(run, p, history, log, recipe["course"] if recipe else None,
                                                 clock.total(), note))
    finally:
        if lock is not None:
            lock.release()


def train_recipe(name: str, *, overrides: dict[str, Any] | None = None, **kwargs) -> RunResult:
    """Run the course experiment `name` (see `classicnets.recipes`), with `overrides` on top:
    keys model, data, model_args, data_args, train (TrainConfig fields), augment (AugmentConfig fields)."""
    from ..recipes import apply_overrides, get_recipe

    cfg, provenance = apply_overrides(get_recipe(name), **(overrides or {}))
    return train_run(cfg, recipe=provenance, **kwargs)


def resume_run(run: str | os.PathLike, *, epochs: int | None = None, callbacks: Sequence = (),
               log: Log = print, warn: Log = _stderr, command: str | None = None,
               on_start: Callable[[Path, Prepared], None] | None = None, note: Log | None = None) -> RunResult:
    """Continue an interrupted run from its checkpoint with its own settings (only `epochs` may
    change: more epochs, or fewer as long as no fewer than already trained). A finished run is left
    as it is (`finished_before`), unless `epochs` asks for more than it trained; a run that never
    finished an epoch starts again from its configuration. A run another process is training (its
    lock, `runs.lock`) is refused."""
    from ..train import distributed

    run = Path(run)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    # under torchrun every process reads the run (a shared file system); rank 0 locks and writes it
    distributed.setup(read_config(run).train.device)
    lock = distributed.on_main(lambda: RunLock(run).acquire())  # refuses a second --resume of the run
    try:
        return _resume_locked(run, epochs, callbacks, log, warn, command, on_start, note)
    finally:
        if lock is not None:
            lock.release()


def _resume_locked(run: Path, epochs: int | None, callbacks: Sequence, log: Log, warn: Log, command: str | None,
                   on_start: Callable[[Path, Prepared], None] | None, note: Log | None) -> RunResult:
    from ..train import Callback, Checkpoint, CSVLogger, distributed
    from ..train.checkpoint import read_position
    from ..train.engine import environment
    from ..train.preemption import StopOnSignal

    main = distributed.is_main()
    cfg = read_config(run)
    state = run_state(run)
    checkpoint = run / CHECKPOINT
    if state == "finished":
        results = read_results(run)
        done = int(results["epochs"])
        if epochs is not None and epochs < done:
            raise UserError(f"{run} has already trained {done} epochs; --epochs must be at least {done}")
        if epochs is None or epochs == done:
            return RunResult(run, None, results, resumed_from=done, finished_before=True)
    else:
        done, step = read_position(checkpoint) if state == "interrupted" else (0, 0)
        if epochs is not None and step and epochs <= done:  # stopped inside epoch done + 1
            raise UserError(f"{run} stopped inside epoch {done + 1}; --epochs must be at least {done + 1}")
    if epochs is not None and epochs < done:
        raise UserError(f"{run} has already trained {done} epochs; --epochs must be at least {done}")
    if epochs is not None and epochs != cfg.train.epochs and cfg.train.schedule in ("onecycle", "cosine") \
            and state != "not started":
        raise UserError(f"the {cfg.train.schedule} schedule is fixed to {cfg.train.epochs} epochs; "
                        f"start a new run to train longer")
    old_epochs = cfg.train.epochs
    if epochs is not None:
        cfg.train.epochs = epochs
    p = distributed.everywhere(lambda: prepare(cfg, warn=warn))
    if state == "finished" and not checkpoint.exists():
        raise UserError(f"{run} has no checkpoint left to train further from; start a new run")
    resume = str(checkpoint) if state in ("finished", "interrupted") else None

    class RecordResumption(Callback):  # appended to config.json once training really continues
        order = -100

        def on_train_begin(self, trainer):
            if not trainer.is_main:
                return
            record = read_json(run / CONFIG, "run configuration")
            record.update(cfg.to_dict())
            note = {"command": command or "classicnets.resume_run", "from_epoch": trainer.epoch,
                    "device": str(p.device), "environment": environment()}
            if cfg.train.epochs != old_epochs:
                note["epochs_changed"] = [old_epochs, cfg.train.epochs]
            if trainer.position is not None:
                note["from_step"] = trainer.position.step
            if trainer.strategy.dist is not None:
                note["distributed"] = distributed.describe(trainer.strategy.dist)
            record.setdefault("resumed", []).append(note)
            write_json(run / CONFIG, record)

    if state == "finished" and main:  # trained further: the old weights, curves and results no longer describe it
        for name in (RESULTS, WEIGHTS):
            with contextlib.suppress(FileNotFoundError):
                (run / name).unlink()
    if main:
        for tmp in run.glob(".*.tmp"):  # a write cut short by a killed process (we hold the lock: none is live)
            with contextlib.suppress(OSError):
                tmp.unlink()
        write_card(run, _card(p))
        if on_start is not None:
            on_start(run, p)
    clock = _wall_clock()
    history = p.task.fit(p, [StopOnSignal(), RecordResumption(), clock, *callbacks, CSVLogger(run / METRICS),
                              Checkpoint(checkpoint)], resume, log)
    if not main:  # another process of a data parallel run: rank 0 writes the results
        return RunResult(run, history, {}, resumed_from=done)
    course = (read_json(run / CONFIG, "run configuration").get("recipe") or {}).get("course")
    return RunResult(run, history, _finish(run, p, history, log, course, clock.total(), note), resumed_from=done)
