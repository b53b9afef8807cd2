"""--tta flip in a run: the test score the run records, the validation scores of each epoch and
`classicnets evaluate` all see each image beside its mirror image; data that are not images are refused."""
import json

import pytest

from classicnets.config import RunConfig, TrainConfig
from classicnets.errors import UserError
from classicnets.runs.run import train_run


def _run(tmp_path, name, tta):
    cfg = RunConfig(model="lenet", data="digits",
                    train=TrainConfig(epochs=2, tta=tta, val_split=0.1, seed=3, device="cpu"))
    return train_run(cfg, out=tmp_path / name, log=lambda s: None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of the same seed, one scored plainly, one with --tta flip: the same weights."""
    tmp = tmp_path_factory.mktemp("tta")
    return _run(tmp, "plain", "none"), _run(tmp, "flip", "flip")


def test_the_run_scores_validation_and_test_through_the_mirror(runs, capsys):
    from classicnets.cli import run_cli as main
    from classicnets.data import load_dataset
    from classicnets.runs.rundir import load_model
    from classicnets.train.evaluation import evaluate
    from classicnets.train.tta import TTA

    plain, flip = runs
    # the same seed trains the same weights: only the scoring differs
    model, card = load_model(flip.run)
    data = load_dataset("digits")
    by_hand = evaluate(TTA(model), data, normalization=card.norm)["acc"]
    assert flip.results["test_acc"] == pytest.approx(by_hand)
    assert flip.results["test_acc"] != plain.results["test_acc"]  # mirrored digits are other digits
    assert json.loads((flip.run / "config.json").read_text())["train"]["tta"] == "flip"
    val_flip = (flip.run / "metrics.csv").read_text().splitlines()[1]
    val_plain = (plain.run / "metrics.csv").read_text().splitlines()[1]
    assert val_flip != val_plain  # the epoch's validation scores too; the training ones are the same
    capsys.readouterr()
    assert main(["evaluate", str(flip.run)]) == 0
    assert f"acc {flip.results['test_acc']:.4f}" in capsys.readouterr().out


def test_sequences_are_refused_with_one_sentence(tmp_path):
    cfg = RunConfig(model="lstm", data="adding", train=TrainConfig(epochs=1, tta="flip", device="cpu"))
    with pytest.raises(UserError, match="--tta flip mirrors images; adding50 holds sequence data"):
        train_run(cfg, out=tmp_path / "r", log=lambda s: None)
    assert not (tmp_path / "r").exists()


def test_evaluate_tta_scores_beside_the_runs_own(runs, capsys):
    from classicnets.cli import run_cli as main

    plain, flip = runs
    capsys.readouterr()
    assert main(["evaluate", str(flip.run), "--tta", "none"]) == 0  # the same weights, scored without the mirror
    assert f"acc {plain.results['test_acc']:.4f}" in capsys.readouterr().out
    results = json.loads((flip.run / "results.json").read_text())
    assert results["test_acc_tta_none"] == pytest.approx(plain.results["test_acc"])
    assert results["test_acc"] == flip.results["test_acc"]  # the run's own score is kept
    assert main(["evaluate", str(plain.run), "--tta", "flip"]) == 0
    assert json.loads((plain.run / "results.json").read_text())["test_acc_tta_flip"] == flip.results["test_acc"]


def test_predict_uses_the_runs_test_time_augmentation(runs, tmp_path, capsys):
    import numpy as np
    import torch

    from classicnets.cli import run_cli as main
    from classicnets.data import load_dataset
    from classicnets.runs.rundir import load_model
    from classicnets.train.evaluation import predict
    from classicnets.train.tta import TTA

    plain, flip = runs
    image = load_dataset("digits").test.x[:1]                     # (1, 1, 8, 8), the data's raw units
    np.save(tmp_path / "digit.npy", image[0, 0].numpy())
    model, card = load_model(flip.run)
    want = predict(TTA(model), image, normalization=card.norm)[0]
    plain_want = predict(model, image, normalization=card.norm)[0]
    assert not torch.allclose(want, plain_want)
    capsys.readouterr()
    assert main(["predict", str(flip.run), str(tmp_path / "digit.npy"), "--top-k", "1"]) == 0
    assert f"{want.max():.1%}" in capsys.readouterr().out
    assert main(["predict", str(plain.run), str(tmp_path / "digit.npy"), "--top-k", "1"]) == 0
    assert f"{plain_want.max():.1%}" in capsys.readouterr().out


def test_evaluate_val_scores_the_images_a_val_split_run_held_out(tmp_path, capsys):
    """A run that held out a validation split (--val-split) is evaluated on the same held-out images."""
    import csv

    import numpy as np

    from classicnets.cli import run_cli

    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    x = (rng.integers(0, 60, (200, 8, 8)) + 60 * y[:, None, None]).astype(np.uint8)  # classes by brightness
    np.savez(tmp_path / "mine.npz", x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    cfg = RunConfig(model="lenet", data=str(tmp_path / "mine.npz"),
                    train=TrainConfig(epochs=2, val_split=0.25, seed=1, device="cpu"))
    result = train_run(cfg, out=tmp_path / "r", log=lambda s: None)
    last = list(csv.DictReader((result.run / "metrics.csv").open()))[-1]
    capsys.readouterr()
    assert run_cli(["evaluate", str(result.run), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "(40 samples)" in out and f"acc {float(last['val_acc']):.4f}" in out
    assert run_cli(["evaluate", str(result.run), "--split", "train"]) == 0
    assert "(120 samples)" in capsys.readouterr().out  # what it trained on, the held-out images left out


def test_evaluate_refuses_to_mirror_what_is_not_an_image(tmp_path, capsys):
    from classicnets.cli import run_cli

    cfg = RunConfig(model="lstm", data="adding", data_args={"length": 10},
                    train=TrainConfig(epochs=1, device="cpu"))
    result = train_run(cfg, out=tmp_path / "r", log=lambda s: None)
    before = (result.run / "results.json").read_text()
    capsys.readouterr()
    assert run_cli(["evaluate", str(result.run), "--tta", "flip"]) == 2
    err = capsys.readouterr().err
    assert "--tta flip mirrors images; adding10 holds sequence data" in err and "Traceback" not in err
    assert (result.run / "results.json").read_text() == before
