"""ResNet chapter (file 001 L46-48): fitted to the identity, a residual block's weights go to 0 (with weight decay)."""
from classicnets.studies import ResidualIdentity


def test_the_residual_weights_go_to_zero_with_weight_decay_and_only_the_output_layer_without(tmp_path):
    study = ResidualIdentity().run(log=lambda s: None)  # the defaults: about 2 s
    wd, nowd, plain = "residual, weight decay", "residual, no weight decay", "plain, weight decay"
    for run in (wd, nowd):
        assert study.final(run, "F") < 0.05 * study.curves[run]["F"][0]   # F(x) -> 0 either way
        assert study.final(run, "loss") < 1e-3
    for w in ("W1", "W2", "b1", "b2"):
        assert study.shrink(wd, w) < 0.1, w                              # with decay: all the weights
    assert study.shrink(nowd, "W2") < 0.5 and study.shrink(nowd, "W1") > 0.5  # without: W1 keeps its weights
    assert study.final(plain, "loss") > 100 * study.final(wd, "loss")     # no shortcut: the identity is hard
    assert study.final(plain, "W2") > study.initial["W2"]                 # and it needs weights, not zeros
    assert "all of them only with weight decay" in study.finding()
    study.plot(tmp_path / "r.png")
    record = study.to_dict()
    assert len(record["curves"][wd]["W1"]) == len(record["steps"]) and record["steps"][-1] == 1000
