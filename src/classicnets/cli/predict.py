"""`classicnets predict RUN FILE...`: a trained model's answers for images, arrays or text."""
from __future__ import annotations

import argparse

from .options import count, fraction


def add_parser(sub) -> None:
    pr = sub.add_parser("predict", help="classify images (PNG/JPEG), .npy arrays or text with a run's model; "
                        "a detector draws its boxes onto each image")
    pr.add_argument("run", help="run directory")
    pr.add_argument("files", nargs="*", metavar="FILE")
    pr.add_argument("--text", action="append", metavar="TEXT",
                    help="text for a model trained on text (repeatable), encoded with the run's vocabulary")
    pr.add_argument("-k", "--top-k", type=count(1), default=3, help="classes to show per input (default: 3)")
    pr.add_argument("--invert", action="store_true",
                    help="invert intensities (dark ink on light paper, for models trained on light-on-dark "
                         "data such as digits and MNIST): an image's 255 - v, an array's max - x")
    pr.add_argument("--out", metavar="FILE", help="detection runs: where the picture with the detections drawn "
                    "goes (a directory for several images; default: IMAGE-detections.png beside each image)")
    pr.add_argument("--score-threshold", type=fraction, metavar="P",
                    help="detection runs: show detections scoring at least this (default: 0.5)")
    pr.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..runs import tasks
    from ..runs.rundir import load_model
    from ..runs.tasks.base import PredictRequest

    model, card = load_model(a.run)
    request = PredictRequest(files=list(a.files), texts=a.text, top_k=a.top_k, invert=a.invert, out=a.out,
                             score_threshold=a.score_threshold)
    tasks.for_card(card.task).load().predict(a.run, model, card, request, print)
    return 0
