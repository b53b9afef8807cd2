"""Large ConvNets (file 000 L193): highway networks train at depths where plain networks do not."""
import math

import pytest

from classicnets.studies import HighwayDepth


def _check(study, deep, shallow):
    assert study.best(f"highway{deep}")[1] < 0.6, study.finding()
    assert study.best(f"plain{deep}")[1] > 1.2, study.finding()     # near chance (2.303) at every rate tried
    assert study.best(f"plain{shallow}")[1] < 0.5, study.finding()  # shallow, the same plain network trains


def test_a_deep_highway_network_trains_where_a_plain_one_does_not_reduced(tmp_path):
    study = HighwayDepth(depths=(3, 40), width=20, epochs=5, lrs=(0.01, 0.03)).run(log=lambda s: None)  # ~6 s
    _check(study, 40, 3)
    assert study.plain_width == 28  # about the highway layer's parameters
    assert all(len(v) == 2 for v in study.final.values())
    study.plot(tmp_path / "h.png")
    record = study.to_dict()
    assert record["best"]["highway40"]["lr"] in ("0.01", "0.03") and math.isfinite(record["best"]["highway40"]["loss"])


@pytest.mark.slow
def test_highway_trains_at_100_layers_with_the_defaults():
    study = HighwayDepth().run(log=lambda s: None)  # one to two minutes
    _check(study, 100, 10)
    assert study.best("highway50")[1] < 0.5 and study.best("plain50")[1] > 1.2
