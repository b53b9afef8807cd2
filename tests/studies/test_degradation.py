"""ResNet chapter (file 001 L18): deeper plain networks train worse; residual ones do not."""
import pytest

from classicnets.studies import Degradation


def _check(study, plain_margin, resnet_margin):
    gaps = study.gaps()
    assert gaps["plain"] > plain_margin, study.finding()           # deeper plain: higher training error
    assert gaps["resnet"] < resnet_margin, study.finding()         # deeper residual: about as low
    assert gaps["plain"] > 3 * max(gaps["resnet"], 0), study.finding()
    lo, hi = study.depths
    assert study.params[f"plain{hi}"] == study.params[f"resnet{hi}"]  # the same layers, option A adds nothing


def test_deeper_plain_trains_worse_reduced(tmp_path):
    # the default suite's setting (about 9 s): narrower, shallower, fewer epochs, the same direction
    study = Degradation(depths=(20, 44), width=4, epochs=5).run(log=lambda s: None)
    _check(study, plain_margin=0.2, resnet_margin=0.1)
    study.plot(tmp_path / "d.png")
    record = study.to_dict()
    assert len(record["train_error"]["plain44"]) == 5 and set(record["gaps"]) == {"plain", "resnet"}


@pytest.mark.slow
def test_deeper_plain_trains_worse_with_the_defaults():
    study = Degradation().run(log=lambda s: None)  # about 30 s
    _check(study, plain_margin=0.3, resnet_margin=0.05)
