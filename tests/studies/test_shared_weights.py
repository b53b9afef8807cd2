"""ConvNets part 1 (file 004 L752-765): a shared weight's gradient is the sum over its uses."""
import numpy as np
import pytest

from classicnets.studies import SharedWeights


@pytest.mark.parametrize("length,kernel,seed", [(5, 3, 0), (12, 4, 1), (3, 3, 2)])
def test_the_sum_over_uses_of_z_times_delta_is_autograds_gradient(length, kernel, seed):
    study = SharedWeights(length=length, kernel=kernel, seed=seed).run(log=lambda s: None)
    assert study.max_difference() < 1e-6
    for k in range(kernel):  # each weight's gradient is the sum of its (examples x positions) uses
        uses = study.uses(k)
        assert uses.shape == (study.examples, length - kernel + 1)
        assert np.isclose(uses.sum(), study.autograd["weight"][k], atol=1e-6)
    # a single use is not the gradient: the sum is what the course's rule adds
    assert not np.isclose(study.uses(0)[0, 0], study.autograd["weight"][0])


def test_default_is_the_course_figure_and_json_holds_every_number(tmp_path):
    study = SharedWeights().run(log=lambda s: None)
    assert (study.length, study.kernel, study.positions) == (5, 3, 3)  # w_1 used at a_1, a_2, a_3
    record = study.to_dict()
    assert record["max_difference"] < 1e-6 and len(record["uses"]["w_1"][0]) == 3
    study.plot(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 10_000
