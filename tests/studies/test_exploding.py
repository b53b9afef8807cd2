"""Recurrent chapter (file 003 L77): exploding gradients, and clipping keeping training finite."""
import math

from classicnets.studies import ExplodingGradients


def test_past_radius_one_the_gradient_explodes_and_only_the_clipped_run_stays_finite(tmp_path):
    study = ExplodingGradients().run(log=lambda s: None)  # the defaults: about 6 s
    unit = study.gradients["radius 1"]
    assert unit[0] < unit[-1]                      # orthogonal weights: the gradient shrinks backwards
    assert study.growth() > 1e4                    # radius 2: it grows by orders of magnitude
    assert "unclipped" in study.stopped and "clipped" not in study.stopped
    assert study.steps_before_stop("unclipped") < 200  # stopped within the first epoch
    assert max(study.losses["unclipped"]) > 1e6 * study.losses["unclipped"][0]
    clipped = study.losses["clipped"]
    assert len(clipped) == 400 and all(math.isfinite(v) for v in clipped)
    assert study.val_mse["clipped"] < 0.25         # and it learnt something near the constant answer's 0.167
    study.plot(tmp_path / "e.png")
    record = study.to_dict()
    assert record["steps_before_stop"] == {"unclipped": study.steps_before_stop("unclipped"), "clipped": None}


def test_clipping_by_value_also_keeps_it_finite():
    study = ExplodingGradients(epochs=1, clip_norm=0.0, clip_value=0.05, length=20).run(log=lambda s: None)
    assert "clipped" not in study.stopped and len(study.losses["clipped"]) == 200
    assert "unclipped" in study.stopped
