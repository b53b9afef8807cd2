"""Transfer settings a new user got a traceback or a wrong message for (issue 23, points 11-13; issue 21,
point 5): each is one sentence on stderr, exit status 2, and no run directory left behind."""
from __future__ import annotations

import pytest
import torch

from classicnets.config import TransferConfig
from classicnets.errors import UserError
from classicnets.train.checkpoint import save_weights
from classicnets.transfer.heads import MAX_HEAD_PARAMS, MAX_UNITS, build_head
from classicnets.transfer.setup import apply_transfer
from classicnets.transfer.weights import load_pretrained
from classicnets.zoo import create


def refused(cli, tmp_path, *args) -> str:
    """Run `classicnets train` on digits with `args`: it must refuse in one line and leave no run directory."""
    out = tmp_path / "run"
    code, stdout, err = cli("train", "--model", "lenet", "--data", "digits", "--epochs", "1", "--out", out, *args)
    assert code == 2, (stdout, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("classicnets: error: ") and "Traceback" not in err
    assert not out.exists()
    return lines[0].removeprefix("classicnets: error: ")


@pytest.mark.parametrize("spec,said", [
    ("dense:99999999999999999999", (f"the units of 'dense:99999999999999999999' must be a whole number from 1 to "
                                    f"{MAX_UNITS:,}; got '99999999999999999999'")),
    ("dense:-5,dense", f"the units of 'dense:-5' must be a whole number from 1 to {MAX_UNITS:,}; got '-5'"),
    ("dense:0,dense", "the units of 'dense:0' must be a whole number"),
    ("dense:2.5,dense", "the units of 'dense:2.5' must be a whole number"),
])
def test_head_sizes_are_bounded_and_worded(cli, tmp_path, spec, said):
    assert said in refused(cli, tmp_path, "--head", spec)


def test_a_head_too_large_to_allocate_is_refused_before_allocating(cli, tmp_path, monkeypatch):
    allocated = []
    original = torch.nn.Linear.__init__
    monkeypatch.setattr(torch.nn.Linear, "__init__",
                        lambda self, *a, **k: (allocated.append(a), original(self, *a, **k))[1])
    with pytest.raises(UserError, match=r"^--head: the units of 'dense:100000000' must be a whole number"):
        build_head("dense:100000000,dense", (1024,), 10)  # 100 GB once
    # 25,088 inputs (VGG's 7x7x512 map) times 65,536 units: 1.6 billion parameters
    with pytest.raises(UserError, match=r"^--head 'flatten,dense:65536,dense' would hold 1,644,232,704 parameters "
                                        r"\(6.1 GiB as float32\), more than a head may \(268,435,456, 1 GiB\)"):
        build_head("flatten,dense:65536,dense", (512, 7, 7), 10)
    assert allocated == []
    monkeypatch.undo()
    assert "more than a head may" in refused(cli, tmp_path, "--head", "dense:65536,dense:65536,dense")
    head = build_head("flatten,dense:4096,dense", (512, 7, 7), 10)  # VGG's own size is allowed
    assert sum(p.numel() for p in head.parameters()) == 25088 * 4096 + 4096 + 4096 * 10 + 10 < MAX_HEAD_PARAMS


def test_freezing_everything_is_refused_as_training_nothing(cli, tmp_path):
    said = refused(cli, tmp_path, "--freeze", "all")
    assert said.startswith("--freeze all freezes every parameter, so nothing would be trained")
    with pytest.raises(UserError, match="nothing would be trained"):
        TransferConfig(freeze="base,all").validate()
    TransferConfig(freeze="all", unfreeze_top=1).validate()  # the top blocks train: allowed
    # patterns that happen to match every module are caught once the model is built, before the run
    with pytest.raises(UserError, match=r"^--freeze features\*,classifier\* freezes every parameter of the model, so "
                                        r"nothing would be trained"):
        apply_transfer(TransferConfig(freeze="features*,classifier*"), create("lenet"), model_name="lenet",
                       num_outputs=10, input_shape=(1, 8, 8))
    assert "nothing would be trained" in refused(cli, tmp_path, "--freeze", "*")


def test_a_damaged_safetensors_file_is_called_damaged_whatever_its_first_byte(cli, tmp_path):
    """A header length beginning with 0x80 made it look like torch.save's legacy pickle, and torch.load
    handed it to safetensors, whose SafetensorError escaped."""
    good = tmp_path / "w.safetensors"
    save_weights(good, create("lenet", seed=0))
    data = bytearray(good.read_bytes())
    data[0] = 0x80
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"^weights file .*bad.safetensors is damaged or truncated"):
        load_pretrained(create("lenet"), bad, model_name="lenet")
    assert "is damaged or truncated" in refused(cli, tmp_path, "--weights", bad)
    renamed = tmp_path / "bad.bin"  # the same bytes under another name: a safetensors header all the same
    renamed.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"bad.bin is damaged or truncated \(Error while deserializing header"):
        load_pretrained(create("lenet"), renamed, model_name="lenet")
    pickle = tmp_path / "legacy.pth"  # torch.save's format before 1.6 still starts with 0x80 0x02
    torch.save(create("lenet").state_dict(), pickle, _use_new_zipfile_serialization=False)
    assert pickle.read_bytes()[:2] == b"\x80\x02"
    assert load_pretrained(create("lenet"), pickle, model_name="lenet").format == "pytorch"
