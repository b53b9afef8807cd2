"""`classicnets evaluate RUN`: a run's scores on a split, printed and added to its results.json."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import PROG


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="test loss, accuracy and confusion matrix of a run (a detector: AP "
                       "per class, mAP@0.5, COCO mAP)")
    e.add_argument("run", help="run directory")
    e.add_argument("--split", choices=("test", "val", "train"), default="test")
    e.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..data import load_dataset
    from ..fileio import write_json
    from ..record import RESULTS, read_config, read_results
    from ..runs import tasks
    from ..runs.rundir import load_model
    from ..runs.tasks.base import check_data_against_card

    model, card = load_model(a.run)
    cfg = read_config(a.run)
    results = read_results(a.run)  # a damaged file is refused before any work
    data = load_dataset(card.data, data_dir=cfg.data_dir, **cfg.data_args)
    check_data_against_card(Path(a.run), card, data)  # one sentence, not a shape error deep in the model
    task = tasks.for_card(card.task).load()
    results.update(task.evaluate(Path(a.run), model, card, cfg, data, a.split, results, print))
    try:
        write_json(Path(a.run) / RESULTS, results)
    except OSError as e:  # a read-only run: the scores are printed above, its results.json stays as it was
        print(f"{PROG}: warning: cannot write in {a.run} ({e.strerror or e}); the scores above were not added "
              f"to its {RESULTS}", file=sys.stderr)
    return 0
