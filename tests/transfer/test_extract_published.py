"""`classicnets extract` and `train --features` with published weights read the same file and meet in the
same feature cache (keyed by the base's own tensors), and the settings line names the preprocessing the
weights brought instead of `--normalize`. Keras's MobileNet 0.25 at 128 from formula weights in
$CLASSICNETS_WEIGHTS, with and without its top: nothing is downloaded."""
from __future__ import annotations

import numpy as np
import pytest
from keras_writers import write_keras2
from PIL import Image

from classicnets.config import RunConfig, TransferConfig


@pytest.fixture
def published(tmp_path, monkeypatch):
    """Published MobileNet files, a data cache and an image folder of two classes at 128 pixels."""
    weights = tmp_path / "weights"
    weights.mkdir()
    write_keras2(weights / "mobilenet_2_5_128_tf.h5", "mobilenet")
    write_keras2(weights / "mobilenet_2_5_128_tf_no_top.h5", "mobilenet", drop=("conv_preds",))
    monkeypatch.setenv("CLASSICNETS_WEIGHTS", str(weights))
    monkeypatch.setenv("CLASSICNETS_OFFLINE", "1")
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    g = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / "pets" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((g.random((40, 40, 3)) * 255).astype(np.uint8)).save(tmp_path / "pets" / c / f"{i}.png")
    return tmp_path / "pets"


MODEL = ["--arg", "alpha=0.25", "--data-arg", "size=128"]


def test_extract_then_train_features_share_one_file_and_one_cache(cli, published, tmp_path):
    code, out, err = cli("extract", "mobilenet", "--weights", "imagenet", "--data", published, *MODEL)
    assert code == 0, err
    assert "Extracted the base's features of 6 examples" in out
    cached = list((tmp_path / "cache" / "features").iterdir())
    assert len(cached) == 1
    code, out, err = cli("train", "--model", "mobilenet", "--data", published, *MODEL, "--weights", "imagenet",
                         "--head", "gap,dense", "--freeze", "base", "--features", "--epochs", 1,
                         "--out", tmp_path / "run", "--progress", "plain")
    assert code == 0, err
    assert "Extracted" not in out  # extract's cache was found
    assert list((tmp_path / "cache" / "features").iterdir()) == cached
    settings = next(line for line in out.splitlines() if line.startswith("Settings: "))
    assert "normalize as the weights expect: x / 127.5 - 1 (Keras's MobileNet)" in settings
    assert "normalize standardize" not in settings


def test_extract_asks_for_the_base_only(published, monkeypatch):
    """extract reaches `apply_transfer(..., base_only=True)` through `prepare`: the file without the top,
    whatever the model's number of classes."""
    from classicnets.runs.run import extract_config, extract_features
    from classicnets.transfer import setup

    seen = []
    real = setup.apply_transfer

    def spy(*args, **kwargs):
        model, norm, record = real(*args, **kwargs)
        seen.append((kwargs.get("base_only"), record["weights_file"]))
        return model, norm, record
    monkeypatch.setattr(setup, "apply_transfer", spy)
    cfg = extract_config("mobilenet", model_args={"alpha": 0.25}, data=str(published), data_args={"size": 128},
                         data_dir=None, weights="imagenet")
    extract_features(cfg, log=lambda s: None, warn=lambda s: None)
    assert seen and seen[0][0] is True and seen[0][1].endswith("mobilenet_2_5_128_tf_no_top.h5")


def test_the_settings_line_says_which_normalisation_the_run_uses():
    from classicnets.runs.run import describe_settings
    from classicnets.transfer.keras import IMAGENET_NORMALIZATION

    cfg = RunConfig(model="resnet18", data="cats_vs_dogs", transfer=TransferConfig(weights="imagenet"))
    assert ", normalize standardize," in describe_settings(cfg)  # the weights said nothing: --normalize's
    line = describe_settings(cfg, preprocessing=IMAGENET_NORMALIZATION.to_dict())
    assert ", normalize as the weights expect: ImageNet mean and std on x / 255" in line
    assert "normalize standardize" not in line
