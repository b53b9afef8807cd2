"""ConvNets part 1 (file 004 L14): dense networks stop gaining from depth; ConvNets keep gaining."""
import pytest

from classicnets.studies import DenseVsConv


def test_depth_pays_far_more_for_the_convnet_reduced(tmp_path):
    # the default suite's setting (a few seconds): two depths, narrow, 6 epochs
    study = DenseVsConv(depths=(1, 4), width=8, dense_width=32, epochs=6).run(log=lambda s: None)
    assert study.gain("conv") > 0.2, study.finding()
    assert study.gain("conv") > study.gain("dense") + 0.1, study.finding()
    assert study.params["conv"][4] < study.params["dense"][1]  # not by having more weights
    study.plot(tmp_path / "d.png")
    assert set(study.to_dict()["val_acc"]) == {"dense", "conv"}


@pytest.mark.slow
def test_with_the_defaults_dense_networks_peak_early_and_convnets_keep_improving():
    study = DenseVsConv().run(log=lambda s: None)  # about a minute
    dense, conv = study.val_acc["dense"], study.val_acc["conv"]
    assert study.best_depth("dense") <= 4                    # the dense networks peak within a few layers
    assert max(dense[d] for d in (6, 8)) <= max(dense.values())
    assert conv[8] - conv[1] > 0.3 and conv[8] >= conv[4] - 0.01  # the ConvNets keep improving
    assert conv[8] > dense[8]
