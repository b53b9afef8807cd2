"""ConvNets for newcomers (file 002 L86-89): degree 14 describes the 15 training points, degree 3 the curve."""
import json

import numpy as np
import pytest

from classicnets.errors import UserError
from classicnets.studies import PolynomialDegree


@pytest.mark.parametrize("seed", range(5))
def test_degree_14_fits_the_points_and_degree_3_the_curve(seed):
    study = PolynomialDegree(seed=seed).run(log=lambda s: None)
    lo, hi = study.fits[3], study.fits[14]
    assert hi["train_rmse"] < 1e-6 < lo["train_rmse"]          # 15 points, 15 coefficients: through every point
    assert hi["held_out_rmse"] > 3 * lo["held_out_rmse"], study.finding()
    assert lo["held_out_rmse"] < 2 * study.noise                # degree 3 is about as good as the noise allows
    train = [study.fits[d]["train_rmse"] for d in range(15)]    # nested least squares: never worse on its points
    assert all(b <= a + 1e-9 for a, b in zip(train, train[1:]))
    assert study.best_degree() in range(3, 10)
    assert "misses the curve" in study.finding()


def test_the_record_holds_the_points_the_fits_and_the_machine(tmp_path):
    study = PolynomialDegree().run(log=lambda s: None)
    record = json.loads(json.dumps(study.to_dict()))
    assert len(record["x"]) == 15 and np.allclose(record["x"], np.linspace(0, 1, 15))
    assert len(record["fits"]["14"]["coefficients"]) == 15
    assert {"torch", "threads", "cpu", "cpu_capability", "device"} <= set(record["environment"])
    study.plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_too_few_points_for_degree_14_is_one_sentence():
    with pytest.raises(UserError, match="--train-size 10 is too few points"):
        PolynomialDegree(train_size=10).validate()
