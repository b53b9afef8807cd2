"""Real data: Fashion-MNIST from Debian's dataset-fashion-mnist, trained on briefly (issue 19).

Skipped, with the reason, where the package is not installed (`.ci/run` installs it where apt-get
works)."""
from pathlib import Path

import pytest
import torch

from classicnets.data import load_dataset, sources
from classicnets.data.core import Dataset
from classicnets.train import TrainConfig, fit
from classicnets.train.evaluation import evaluate
from classicnets.zoo import create

DEBIAN = Path(sources.DEBIAN_FASHION_FOLDER)
pytestmark = pytest.mark.skipif(not all((DEBIAN / n).is_file() for n in sources.IDX_NAMES),
                                reason=f"Debian's dataset-fashion-mnist is not installed (no {DEBIAN}): "
                                       f"apt-get install dataset-fashion-mnist")


def test_a_few_hundred_steps_on_the_real_images_beat_80_percent_on_the_real_test_set():
    data = load_dataset("fashion-mnist")
    assert (len(data.train), len(data.test)) == (60_000, 10_000)
    part = Dataset(data.name, data.classes, train=data.train.subset(torch.arange(19_200)), test=data.test,
                   max_value=data.max_value)
    model = create("lenet", seed=0, in_channels=1, input_size=28, num_classes=10)
    history = fit(model, part, TrainConfig(epochs=1, batch_size=64, seed=0))  # 300 steps
    assert len(history.epoch) == 1
    test = evaluate(model, data, normalization=history.normalization, batch_size=500)
    assert test["acc"] > 0.80, test


@pytest.mark.parametrize("recipe,model", [("mnist_cnn", "mnist_cnn"), ("mnist_mlp", "mlp")])
def test_the_course_mnist_recipes_replay_on_the_real_fashion_mnist(recipe, model):
    """Fashion-MNIST is MNIST's drop-in replacement: the recipes run on it with --data fashion-mnist,
    every other setting the recipe's (a short run of one of them is in the README's table)."""
    from classicnets.recipes import apply_overrides, get_recipe
    from classicnets.runs.run import prepare

    cfg, provenance = apply_overrides(get_recipe(recipe), data="fashion-mnist")
    assert provenance["overridden"] == {"data": {"recipe": "mnist", "now": "fashion-mnist"}}
    p = prepare(cfg, warn=lambda s: None)
    assert (p.config.model, p.data.name, p.data.classes[9]) == (model, "fashion-mnist", "Ankle boot")
    assert p.normalization.max_value == 255.0 and p.normalization.mean == [0.0]  # the recipe's /255
    assert p.model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
