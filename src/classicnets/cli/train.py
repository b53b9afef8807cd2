"""`classicnets train`: a new run, a recipe, or `--resume` of an interrupted one; `--nproc` starts torchrun."""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path

from ..config import RunConfig, TrainConfig, TransferConfig
from ..data.augment_config import AugmentConfig
from ..errors import UserError
from .options import (
    PROG,
    add_data_options,
    add_dataclass_options,
    count,
    dataclass_from_args,
    given_fields,
    parse_model_args,
    progress_callbacks,
    rank,
    warn_function,
)


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model (default: lenet on the bundled digits)",
                       description="Train a model. With no options: lenet on scikit-learn's digits.")
    t.add_argument("--recipe", help="one of the course's experiments with all its settings (see `classicnets "
                   "recipes`); any option given beside it overrides the recipe's value")
    t.add_argument("--model", help="registry name (default: lenet); see `classicnets models`")
    add_data_options(t, data_help="data set name (default: digits; see `classicnets datasets`), an image "
                     "folder with one sub-folder per class, or a .npz file with x_train/y_train")
    t.add_argument("--arg", action="append", metavar="KEY=VALUE", help="model builder option, repeatable")
    t.add_argument("--out", help="run directory (default: RUNS_DIR/<time>-<model>-<data>)")
    t.add_argument("--runs-dir", default="runs", help="where new run directories go (default: runs)")
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its checkpoint")
    t.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto",
                   help="bar on a terminal, plain epoch lines in logs (default: auto)")
    t.add_argument("--tensorboard", action="store_true",
                   help="also write per-epoch scalars to RUN/tensorboard/ (pip install 'classicnets[tensorboard]')")
    t.add_argument("--nproc", type=count(1), metavar="N",
                   help="data parallel training in N processes on this machine: starts `torchrun --standalone "
                        "--nproc_per_node N -m classicnets.cli train ...` (one per GPU; on the CPU, Gloo); "
                        "--batch-size stays the global batch; at most one process per GPU, or 4 per CPU core")
    t.add_argument("-q", "--quiet", action="store_true",
                   help="print only the test result: silent until training ends, which can take minutes")
    add_dataclass_options(t, TrainConfig, "training")
    add_dataclass_options(t, AugmentConfig, "augmentation (applied to training batches only)")
    add_dataclass_options(t, TransferConfig, "transfer learning (see the user guide)")
    t.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    if a.nproc is not None and a.nproc > 1:
        from .launch import launch_torchrun
        _check_before_launch(a)
        return launch_torchrun(a)
    if rank():  # another process of a data parallel run: rank 0 shows the progress and says what happened
        a.quiet, a.tensorboard = True, False
    from ..train.preemption import raise_preempted
    previous = signal.signal(signal.SIGTERM, raise_preempted)  # outside the loop: unwind, cleaning up
    try:
        return _train(a)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_before_launch(a: argparse.Namespace) -> None:
    """What every process of `--nproc` would refuse, said once before torchrun starts them: the options,
    the recipe, the model and data names, --out, --resume's run, and the number of processes."""
    from ..runs.run import check_run_path, refuse_existing_run
    from .launch import check_processes

    if a.resume:
        _refuse_resume_overrides(a)
        from ..record import read_config
        if not Path(a.resume).is_dir():
            raise UserError(f"run directory {a.resume} does not exist")
        cfg = read_config(a.resume)
    else:
        from ..data.registry import check_data_name
        from ..zoo import model_info
        cfg, _ = _config(a)
        for part in (cfg.train, cfg.augment, cfg.transfer):
            part.validate()
        model_info(cfg.model)
        check_data_name(cfg.data)
        check_run_path(a.out, a.runs_dir)
        if a.out is not None and Path(a.out).is_dir():
            refuse_existing_run(Path(a.out))
    check_processes(a.nproc, cfg.train.device, warn_function())


def _refuse_resume_overrides(a: argparse.Namespace) -> None:
    overrides = [f.name for cls in (TrainConfig, AugmentConfig, TransferConfig) for f in dataclasses.fields(cls)
                 if getattr(a, f.name) is not None and f.name != "epochs"]
    if overrides or a.model or a.data or a.arg or a.data_dir or a.data_arg or a.out or a.recipe is not None:
        raise UserError("--resume continues a run with its own settings; only --epochs may change")


def _config(a: argparse.Namespace) -> tuple[RunConfig, dict | None]:
    """The run's settings from the options (on top of a recipe's with --recipe), and the recipe's provenance."""
    if a.data and (Path(a.data).is_dir() or a.data.endswith(".npz")):
        a.data = str(Path(a.data).resolve())  # the run must find it again from anywhere
    if a.recipe is not None:  # the course's settings, with the options given here on top
        from ..recipes import apply_overrides, get_recipe
        cfg, provenance = apply_overrides(
            get_recipe(a.recipe), model=a.model, data=a.data, model_args=parse_model_args(a.arg),
            data_args=parse_model_args(a.data_arg, "data set"), train=given_fields(TrainConfig, a),
            augment=given_fields(AugmentConfig, a), transfer=given_fields(TransferConfig, a))
        cfg.data_dir = a.data_dir
        return cfg, provenance
    base = RunConfig()
    return RunConfig(model=base.model if a.model is None else a.model, data=base.data if a.data is None else a.data,
                     data_dir=a.data_dir,
                     data_args=parse_model_args(a.data_arg, "data set"), model_args=parse_model_args(a.arg),
                     train=dataclass_from_args(TrainConfig, a), augment=dataclass_from_args(AugmentConfig, a, base.augment),
                     transfer=dataclass_from_args(TransferConfig, a)), None


def _train(a: argparse.Namespace) -> int:
    from ..runs.run import describe_settings, resume_run, train_run

    command = " ".join([PROG, *sys.argv[1:]])
    log = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))
    callbacks = progress_callbacks("none" if a.quiet else a.progress)
    tensorboard = None
    if a.tensorboard:
        from ..runs.tensorboard import TENSORBOARD, TensorBoard
        tensorboard = TensorBoard()  # one sentence now, before any work, if the package is missing
        callbacks.append(tensorboard)
    provenance = None

    def header(run: Path, p) -> None:
        if tensorboard is not None:
            tensorboard.log_dir = run / TENSORBOARD
        log(f"Training {p.config.model} on {p.config.data} ({p.device}); run directory {run}")
        if provenance is not None:
            changed = ", ".join(f"{k} {v['recipe']} -> {v['now']}" for k, v in provenance["overridden"].items())
            from ..recipes import CourseFigure, get_recipe
            fidelity = get_recipe(provenance["name"]).fidelity(p.config)
            fig = CourseFigure(**provenance["course"])
            log(f"Recipe {provenance['name']} ({fig.by}: {fig.describe()})"
                + (f"; overridden: {changed}" if changed else "") + (f"; {fidelity}" if fidelity else ""))
        log(f"Settings: {describe_settings(p.config, p.data, p.transfer.get('preprocessing'))}")

    if a.resume:
        _refuse_resume_overrides(a)
        try:
            result = resume_run(a.resume, epochs=a.epochs, callbacks=callbacks, command=command,
                                on_start=header, log=print, note=log, warn=warn_function())
        except KeyboardInterrupt as e:
            return _interrupted(Path(a.resume), e)
        if result.finished_before:
            print(f"{result.run} has already finished its {result.resumed_from} epochs; nothing to resume "
                  f"(`{PROG} evaluate {result.run}` uses it)", file=sys.stderr)
        return 0
    cfg, provenance = _config(a)
    claimed: list[Path] = []

    def start(run: Path, p) -> None:
        claimed.append(run)
        header(run, p)
    try:
        train_run(cfg, out=a.out, runs_dir=a.runs_dir, callbacks=callbacks, warn=warn_function(),
                  command=command, on_start=start, log=print, recipe=provenance, note=log)
    except KeyboardInterrupt as e:
        return _interrupted(claimed[0] if claimed else None, e)
    return 0


def _interrupted(run: Path | None, e: KeyboardInterrupt) -> int:
    """Say where training stopped and how to go on; the status is 128 + the signal (130 Ctrl-C, 143 SIGTERM)."""
    from ..record import run_state
    status = getattr(e, "status", 130)  # preemption.Preempted carries its signal
    if rank():
        return status
    what = "Stopped by SIGTERM" if status == 143 else "Interrupted"
    epoch, step = getattr(e, "epoch", None), getattr(e, "step", None)
    if epoch is not None:
        what += f" in epoch {epoch + 1} after step {step} (saved)" if step else f" after epoch {epoch} (saved)"
    if run is not None and run_state(run) == "interrupted":
        print(f"\n{what}. Continue with: {PROG} train --resume {run}", file=sys.stderr)
    else:
        print(f"\n{what} before the first checkpoint; nothing was kept.", file=sys.stderr)
    return status
