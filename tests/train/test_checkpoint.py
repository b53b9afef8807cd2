import os

import pytest
import torch

from classicnets.errors import UserError
from classicnets.fileio import atomic_open, write_text
from classicnets.train.checkpoint import load_state, load_weights, save_state, save_weights
from classicnets.zoo import create


def test_nested_state_round_trips_without_pickle(tmp_path):
    model = create("lenet")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    opt.step()
    state = {"optimizer": opt.state_dict(), "epoch": 3, "inf": float("inf"), "none": None,
             "rng": torch.get_rng_state(), "pair": (1, "a")}
    save_state(tmp_path / "c.safetensors", state)
    back = load_state(tmp_path / "c.safetensors")
    assert back["epoch"] == 3 and back["inf"] == float("inf") and back["none"] is None
    assert back["pair"] == (1, "a") and torch.equal(back["rng"], state["rng"])
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.95)
    assert set(back["optimizer"]["state"]) == set(state["optimizer"]["state"])  # integer keys survive
    for k, s in state["optimizer"]["state"].items():
        assert torch.equal(back["optimizer"]["state"][k]["exp_avg"], s["exp_avg"])
    opt2 = torch.optim.Adam(model.parameters())
    opt2.load_state_dict(back["optimizer"])


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "c.safetensors"
    save_state(path, {"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(UserError, match="damaged or not a classicnets checkpoint"):
        load_state(path)
    path.write_bytes(b"\x80\x04\x95 a pickle, perhaps")
    with pytest.raises(UserError, match="damaged"):
        load_state(path)
    with pytest.raises(UserError, match="does not exist"):
        load_state(tmp_path / "none.safetensors")


def test_weights_round_trip_and_mismatch(tmp_path):
    a, b = create("lenet"), create("lenet")
    save_weights(tmp_path / "m.safetensors", a)
    load_weights(tmp_path / "m.safetensors", b)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(UserError, match="does not match the model"):
        load_weights(tmp_path / "m.safetensors", create("lenet5"))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.txt"
    write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]  # no temporary file left behind
