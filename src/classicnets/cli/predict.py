"""`classicnets predict RUN FILE...`: a trained model's answers for images, arrays or text;
`classicnets predict --model NAME [--weights FILE|imagenet] FILE...`: published weights' top classes,
without training and without a run directory."""
from __future__ import annotations

import argparse

from ..errors import UserError
from .options import count, fraction, parse_model_args


def add_parser(sub) -> None:
    pr = sub.add_parser("predict", help="classify images (PNG/JPEG), .npy arrays or text with a run's model, or "
                        "with published weights (--model, --weights); a detector draws its boxes onto each image",
                        usage="%(prog)s RUN FILE... | --model NAME [--weights FILE|imagenet] FILE... [options]")
    pr.add_argument("run", nargs="?", metavar="RUN", help="run directory (left out with --model)")
    pr.add_argument("files", nargs="*", metavar="FILE")
    pr.add_argument("--text", action="append", metavar="TEXT",
                    help="text for a model trained on text (repeatable), encoded with the run's vocabulary")
    pr.add_argument("-k", "--top-k", type=count(1), default=3, help="classes to show per input (default: 3)")
    pr.add_argument("--invert", action="store_true",
                    help="invert intensities (dark ink on light paper, for models trained on light-on-dark "
                         "data such as digits and MNIST): an image's 255 - v, an array's max - x")
    pr.add_argument("--out", metavar="FILE", help="detection runs: where the picture with the detections drawn "
                    "goes: a .png or .jpg file for one image, a directory for several (default: "
                    "IMAGE-detections.png beside each image); never one of the images")
    pr.add_argument("--score-threshold", type=fraction, metavar="P",
                    help="detection runs: show detections scoring at least this (default: 0.5)")
    g = pr.add_argument_group("published weights, without a run (see `classicnets pretrained` to make one)")
    g.add_argument("--model", help="registry name of the model the weights are for (then no RUN)")
    g.add_argument("--weights", help="with --model: a weights file (torchvision .pth, Keras .h5/.weights.h5/"
                   ".keras, safetensors) or 'imagenet', the published file (default: imagenet)")
    g.add_argument("--arg", action="append", metavar="KEY=VALUE", help="with --model: model builder option, "
                   "repeatable (e.g. alpha=0.25 for a MobileNet file of that width)")
    g.add_argument("--classes", metavar="FILE", help="with --model: the class names, one a line, for weights "
                   "that are not ImageNet's 1,000 classes")
    pr.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..runs.tasks.base import PredictRequest

    if a.model is None and (a.weights or a.arg or a.classes):
        raise UserError("--weights, --arg and --classes go with --model NAME (the model the weights are for); "
                        "a run directory brings its own")
    files = ([a.run] if a.run is not None else []) + list(a.files) if a.model else list(a.files)
    request = PredictRequest(files=files, texts=a.text, top_k=a.top_k, invert=a.invert, out=a.out,
                             score_threshold=a.score_threshold)
    if a.model:
        from ..runs.pretrained import predict_published
        predict_published(a.model, a.weights or "imagenet", request, model_args=parse_model_args(a.arg),
                          classes=read_classes(a.classes) if a.classes else None)
        return 0
    if a.run is None:
        raise UserError("give a run directory (predict RUN FILE...), or published weights with --model NAME")
    from ..runs import tasks
    from ..runs.rundir import load_model

    model, card = load_model(a.run)
    tasks.for_card(card.task).load().predict(a.run, model, card, request, print)
    return 0


def read_classes(path: str) -> list[str]:
    """Class names from a text file, one a line (blank lines skipped)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read class names from {path}: {getattr(e, 'strerror', None) or e}") from None
