"""The course's three methods from the command line, offline, on digits: a source run gives the
weights; method 1 trains a head on extracted (cached) features, method 2 a frozen base inside the
model with augmentation, method 3 fine-tunes the top of the base continuing from method 1."""
import json

import pytest
from safetensors import safe_open

HEAD = "flatten,dense:32:relu,dense"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from classicnets.cli import run_cli
    run = tmp_path_factory.mktemp("src") / "source"
    assert run_cli(["train", "--epochs", "3", "--out", str(run), "-q"]) == 0
    return run


def keys(path):
    with safe_open(str(path), framework="pt") as f:
        return list(f.keys())


def test_method_1_features_are_extracted_once_then_reused(cli, source, tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    code, out, err = cli("extract", source)
    assert code == 0, err
    assert "Extracted the base's features of 1,797 examples" in out
    code, out, err = cli("train", "--weights", source, "--head", HEAD, "--freeze", "base", "--features",
                         "--epochs", 3, "--out", tmp_path / "m1", "--progress", "plain")
    assert code == 0, err
    assert "Extracted" not in out  # the cache from `extract` was used
    assert "augmentation is off" in err  # the default ±1 px shifts cannot apply to features
    assert "features extracted once (method 1)" in out
    model = keys(tmp_path / "m1/model.safetensors")
    assert any(k.startswith("base.") for k in model) and any(k.startswith("head.") for k in model)
    results = json.loads((tmp_path / "m1/results.json").read_text())
    assert results["test_acc"] > 0.8
    code, out, _ = cli("evaluate", tmp_path / "m1")  # the whole model, on images
    assert code == 0 and "test: loss" in out

    # method 3: continue from method 1, thaw the top block of the base at its own learning rate
    code, out, err = cli("train", "--weights", tmp_path / "m1", "--head", HEAD, "--freeze", "base",
                         "--unfreeze-top", 1, "--base-lr", "1e-4", "--schedule", "constant", "--lr", "1e-3",
                         "--translate", 0, "--epochs", 2, "--out", tmp_path / "m3", "-q")
    assert code == 0, err
    cfg = json.loads((tmp_path / "m3/config.json").read_text())
    assert cfg["transfer_loaded"]["skipped"] == [] and cfg["transfer_loaded"]["unfrozen"]


def test_method_2_frozen_base_inside_the_model_with_augmentation(cli, source, tmp_path):
    code, out, err = cli("train", "--weights", source, "--head", HEAD, "--freeze", "base", "--epochs", 2,
                         "--out", tmp_path / "m2", "--progress", "plain")
    assert code == 0, err
    assert "augment translate=1" in out and "freeze base" in out
    # the base's weights are the source's, unchanged by training
    from safetensors.torch import load_file
    src, m2 = load_file(source / "model.safetensors"), load_file(tmp_path / "m2/model.safetensors")
    assert all((m2[f"base.{k}"] == v).all() for k, v in src.items() if k.startswith("features."))


def test_a_mismatched_weights_file_is_one_sentence(cli, source, tmp_path):
    code, _, err = cli("train", "--model", "mlp", "--weights", source, "--out", tmp_path / "r")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()
