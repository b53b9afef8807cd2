"""Large ConvNets (file 000 L138-146): 1x1 convolutions cut parameters and multiply-adds."""
import pytest

from classicnets.studies import OneByOne


def _check_counts(study):
    c = study.counts
    # GoogLeNet table 1, inception (3a): 159K parameters and 128M operations (with biases: 163,696)
    assert c["3a with 1x1"]["params"] == 163_696 and round(c["3a with 1x1"]["macs"] / 1e6) == 128
    assert c["3a naive"]["params"] == 387_296 and c["3a naive"]["output_channels"] == 416
    assert c["bottleneck"]["params"] == 71_168 and c["two 3x3"]["params"] == 1_181_696
    assert study.ratio("inception", "params") > 2 and study.ratio("inception", "macs") > 2
    assert study.ratio("bottleneck", "params") > 10 and study.ratio("bottleneck", "macs") > 10
    assert study.ratio("inception", "output_channels") > 1.5  # the naive module's output grows by its input


def test_one_by_one_convolutions_cut_parameters_and_multiply_adds_reduced(tmp_path):
    study = OneByOne(epochs=3).run(log=lambda s: None)  # about 7 s
    _check_counts(study)
    for name, t in study.trained.items():
        assert t["test_acc"] > 0.3, name  # all four learn (chance is 0.1)
        assert t["params"] < 80_000
    study.plot(tmp_path / "o.png")


@pytest.mark.slow
def test_with_the_defaults_the_saving_costs_little_accuracy():
    study = OneByOne().run(log=lambda s: None)  # about 20 s
    _check_counts(study)
    assert abs(study.accuracy_change("inception")) < 0.03
    assert study.accuracy_change("bottleneck") > -0.05  # 13x fewer parameters in the small network
