"""`classicnets evaluate RUN`: a run's scores on a split, printed and added to its results.json."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .options import PROG, add_data_options, parse_model_args


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="test loss, accuracy and confusion matrix of a run (a detector: AP "
                       "per class, mAP@0.5, COCO mAP)")
    e.add_argument("run", help="run directory")
    e.add_argument("--split", choices=("test", "val", "train"), default="test")
    e.add_argument("--tta", choices=("none", "flip", "flip_translate"), default=None,
                   help="test-time augmentation for this evaluation (default: the run's own, --tta at training); "
                        "scores with another than the run's are recorded as SPLIT_acc_tta_MODE")
    add_data_options(e, data_help="score on this data set instead of the run's (classifiers; needed for a run "
                     "from published ImageNet weights): its classes are matched to the model's by name")
    e.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..fileio import write_json
    from ..record import RESULTS, read_config, read_results
    from ..runs import tasks
    from ..runs.pretrained import evaluation_data
    from ..runs.rundir import load_model
    from ..runs.tasks.base import check_data_against_card, check_tta

    if a.data is None and (a.data_arg or a.data_dir):
        raise UserError("--data-arg and --data-dir go with --data; the run's own data set takes its own settings")
    model, card = load_model(a.run)
    cfg = read_config(a.run)
    results = read_results(a.run)  # a damaged file is refused before any work
    data = evaluation_data(a.run, card, cfg, a.data, parse_model_args(a.data_arg, "data set"), a.data_dir)
    if a.data is None:  # the run's own data set, as it is now: one sentence if it changed since training
        check_data_against_card(Path(a.run), card, data)
    task = tasks.for_card(card.task).load()
    own_tta = a.tta is None or a.tta == cfg.train.tta
    if not own_tta:
        check_tta(a.tta, data)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, tta=a.tta))
    entries = task.evaluate(Path(a.run), model, card, cfg, data, a.split, results, print)
    if not own_tta:  # beside the run's own scores, not over them
        entries = {f"{k}_tta_{a.tta}": v for k, v in entries.items()}
    if a.data is not None:  # the scores name the data set they come from
        entries[f"{a.split}_data"] = a.data
    elif f"{a.split}_data" in results:
        del results[f"{a.split}_data"]
    results.update(entries)
    try:
        write_json(Path(a.run) / RESULTS, results)
    except OSError as e:  # a read-only run: the scores are printed above, its results.json stays as it was
        print(f"{PROG}: warning: cannot write in {a.run} ({e.strerror or e}); the scores above were not added "
              f"to its {RESULTS}", file=sys.stderr)
    return 0
