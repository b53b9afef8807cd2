"""--clip-norm and --clip-value: applied between backward and step, recorded in config.json, honoured
by resume."""
import json

import pytest
import torch

from classicnets import record
from classicnets.config import RunConfig
from classicnets.runs.run import resume_run, train_run
from classicnets.runs.rundir import load_model
from classicnets.train import Callback, TrainConfig, fit
from classicnets.zoo import create


def _one_step(digits, **clip):
    """Parameters before and after one plain SGD step (lr 1, no momentum) on 256 digits."""
    x, y = digits.train.x[:256].float() / 16, digits.train.y[:256]
    model = create("lenet", input_size=8, seed=0)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    fit(model, (x, y), TrainConfig(epochs=1, batch_size=256, optimizer="sgd", lr=1.0, momentum=0.0,
                                   schedule="constant", **clip))
    return before, torch.cat([p.detach().flatten() for p in model.parameters()])


def test_clip_norm_bounds_the_whole_step_and_clip_value_each_element(digits):
    before, after = _one_step(digits)
    assert (after - before).norm() > 0.1 and (after - before).abs().max() > 0.01  # unclipped: a large step
    before, after = _one_step(digits, clip_norm=0.1)
    assert (after - before).norm() == pytest.approx(0.1, rel=1e-3)   # rescaled to the limit, not below
    before, after = _one_step(digits, clip_value=0.01)
    assert (after - before).abs().max() == pytest.approx(0.01, rel=1e-4)
    before, after = _one_step(digits, clip_norm=0.1, clip_value=0.001)
    assert (after - before).abs().max() <= 0.001 + 1e-7 and (after - before).norm() <= 0.1 + 1e-6


def test_out_of_range_clipping_is_one_sentence(cli, tmp_path):
    for flag, value, message in (("--clip-norm", "-1", "--clip-norm must be at least 0"),
                                 ("--clip-value", "nan", "--clip-value")):
        code, _, err = cli("train", flag, value, "--epochs", 1, "--out", tmp_path / "r")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


class Interrupt(Callback):
    order = 200  # after the epoch's checkpoint, like a Ctrl-C between epochs

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 0:
            raise KeyboardInterrupt


def _config(**train):
    return RunConfig(train=TrainConfig(epochs=2, optimizer="sgd", lr=0.5, momentum=0.9,
                                              schedule="constant", seed=4, **train))


def _weights(run):
    model, _ = load_model(run)
    return model.state_dict()


def test_clipping_options_map_onto_the_config():
    from classicnets.cli import build_parser
    from classicnets.cli.options import dataclass_from_args
    a = build_parser().parse_args(["train", "--clip-norm", "0.5", "--clip-value", "0.02"])
    cfg = dataclass_from_args(TrainConfig, a)
    assert (cfg.clip_norm, cfg.clip_value) == (0.5, 0.02)
    assert (TrainConfig().clip_norm, TrainConfig().clip_value) == (0.0, 0.0)  # off unless asked


def test_clipping_is_recorded_in_config_json_and_honoured_by_resume(cli, tmp_path):
    # lr 0.5 with a norm limit of 0.05 clips every step (lenet's gradient norm on digits is about 1),
    # so a resumed run that forgot the limit would end with other weights
    clip = dict(clip_norm=0.05, clip_value=0.002)
    train_run(_config(**clip), out=tmp_path / "whole", log=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        train_run(_config(**clip), out=tmp_path / "cut", callbacks=[Interrupt()], log=lambda s: None)
    recorded = json.loads((tmp_path / "cut" / "config.json").read_text())["train"]
    assert (recorded["clip_norm"], recorded["clip_value"]) == (0.05, 0.002)
    assert record.run_state(tmp_path / "cut") == "interrupted"
    resume_run(tmp_path / "cut", log=lambda s: None)  # reads the clipping from config.json
    whole, resumed = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    code, _, err = cli("train", "--resume", tmp_path / "cut", "--clip-norm", "1")
    assert code == 2 and "only --epochs may change" in err
