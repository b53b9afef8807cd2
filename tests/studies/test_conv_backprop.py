"""ConvNets part 1 (file 004 L767): deltas go back through a convolution by the transposed filter matrix,
i.e. the zero-padded deltas under the reversed filter."""
import numpy as np
import pytest

from classicnets.studies import ConvBackprop
from classicnets.studies.conv_backprop import filter_matrix, flipped_filter_pass


@pytest.mark.parametrize("length,kernel,seed", [(5, 3, 0), (12, 4, 1), (3, 3, 2), (6, 1, 3)])
def test_both_hand_computations_are_autograds_input_gradient(length, kernel, seed):
    study = ConvBackprop(length=length, kernel=kernel, seed=seed).run(log=lambda s: None)
    assert study.max_difference() < 1e-12
    assert np.abs(study.delta["by hand"] - study.delta["autograd"]).max() < 1e-12  # delta^(r) = dL/dz (1 - z^2)
    assert study.check_2d["max_difference"] < 1e-10                             # the 2D rule, filter turned 180
    assert study.dz["autograd"].shape == (study.examples, length)                # one gradient per input


def test_the_filter_matrix_and_the_padded_reversed_filter_are_the_same_operation():
    rng = np.random.default_rng(0)
    w, delta = rng.normal(size=3), rng.normal(size=(2, 4))
    m = filter_matrix(w, 6)
    assert m.shape == (4, 6) and np.allclose(np.diag(m), w[0]) and np.allclose(np.diag(m, 2), w[2])
    assert np.allclose(delta @ m, flipped_filter_pass(delta, w))
    # without the reversal the same padded slide gives another (wrong) answer
    assert not np.allclose(delta @ m, flipped_filter_pass(delta, w[::-1].copy()))


def test_default_is_the_course_figure_and_the_record_has_every_number(tmp_path):
    study = ConvBackprop().run(log=lambda s: None)
    record = study.to_dict()
    assert (study.length, study.kernel, study.positions) == (5, 3, 3)
    assert np.array(record["filter_matrix"]).shape == (3, 5)
    assert set(record["dz"]) == {"filter matrix", "flipped filter", "autograd"}
    assert record["environment"]["device"] == "cpu"
    study.plot(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 10_000
