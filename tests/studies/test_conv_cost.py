"""ConvNets part 1 (file 004 L450, L570-578): a convolution step costs far more than a dense step, and the
multiply-adds say why. Times depend on the machine: only the counts and the record are checked."""
import json

import pytest

from classicnets.studies import ConvCost


@pytest.fixture(scope="module")
def study():
    return ConvCost(batch_size=8, repeats=3, warmup=1).run(log=lambda s: None)


def test_the_convnet_needs_8_times_the_multiply_adds_from_fewer_weights(study):
    conv, dense = study.counts["conv"], study.counts["dense"]
    assert conv["macs"] == 15_275_392 and dense["macs"] == 1_840_128   # per example, by summarize
    assert study.macs_ratio() == pytest.approx(8.30, abs=0.01)
    assert conv["params"] == 703_594 < dense["params"] == 1_841_162
    for row in conv["layers"] + dense["layers"]:  # the course's formula is summarize's count, layer by layer
        assert row["formula"] == row["macs"], row["name"]
    second = next(r for r in conv["layers"] if r["name"] == "features.2")
    assert (second["F"], second["D_in"], second["W"], second["H"], second["D_out"]) == (3, 32, 28, 28, 32)
    # 004 L578: larger than a dense layer of D_r and D_(r+1) nodes by F F W H
    assert second["formula"] == second["D_in"] * second["D_out"] * 3 * 3 * 28 * 28


def test_the_record_names_the_machine_and_holds_every_timed_step(study, tmp_path):
    record = json.loads(json.dumps(study.to_dict()))
    assert {len(v) for v in record["seconds"].values()} == {3}
    assert all(s > 0 for v in record["seconds"].values() for s in v)
    env = record["environment"]
    assert env["threads"] == 1 and env["device"] == "cpu" and env["cpu"] and env["torch"]
    assert "cpu (" in study.finding() and "8.3x the arithmetic" in study.finding()
    study.plot(tmp_path / "t.png")
