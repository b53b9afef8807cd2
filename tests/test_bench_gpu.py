"""bench/gpu.py, the GPU suite of issue 24, at its --smoke sizes on the CPU, and its planning of a second call."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "gpu.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # about a minute on an idle 2-core CPU, minutes on a busy one
def test_smoke_correctness_and_throughput_write_the_json_and_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("OUT", None)
    p = subprocess.run([sys.executable, str(BENCH), "--smoke", "--only", "correctness,throughput", "--out", str(tmp_path),
                        "--budget-s", "3600"], capture_output=True, text=True, env=env, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((tmp_path / "gpu-bench.json").read_text())
    assert doc["smoke"] is True and doc["machine"]["device"] == "cpu" and doc["machine"]["torch"]
    assert set(doc["sections"]) == {"correctness", "throughput", "memory"}
    c = doc["sections"]["correctness"]
    assert set(c["one_step"]) == {"fp32", "bf16 autocast"}
    assert set(c["free"]) == {"fp32 vs cpu fp32", "bf16 autocast vs fp32"}
    # on the CPU the "device" is the CPU: fp32 from the same state must give the same loss and update,
    # which fails if the device's optimizer shares (and steps) the CPU's state tensors
    fp32 = c["one_step"]["fp32"]
    assert fp32["max_loss_rel_diff"] == 0 and fp32["min_update_cosine"] > 0.999999
    assert len(fp32["loss_rel_diff"]) == c["steps"] == len(c["cpu_fp32_losses"])
    assert c["free"]["fp32 vs cpu fp32"]["max_abs_diff"] == 0
    assert c["ok"] is True
    models = doc["sections"]["throughput"]["models"]
    assert list(models) == ["lenet", "cifar_convnet", "resnet_mini", "resnet18"]
    for m in models.values():
        assert set(m["variants"]) == {"fit", "tricks", "plain"}  # no torchvision here, and no 224 model with one
        assert all(v["images_per_s"] > 0 and len(v["timed_s"]) == 2 for v in m["variants"].values())
        assert m["fit_vs_tricks"] == m["variants"]["fit"]["images_per_s"] / m["variants"]["tricks"]["images_per_s"]
        assert m["fit_vs_plain"] > 0
    assert set(doc["sections"]["memory"]["models"]["lenet"]["peak_mib"]) == {"fit", "tricks", "plain"}
    table = (tmp_path / "gpu-bench.md").read_text()
    for title in ("## 1. Correctness", "## 2. Training throughput", "## 5. Peak GPU memory", "SMOKE sizes"):
        assert title in table
    assert "| resnet_mini | 32x32 | 4 |" in table


def test_rest_of_runs_only_what_the_earlier_call_skipped_failed_or_never_reached(tmp_path):
    gpu = load_bench()
    earlier = {"sections_asked": ["correctness", "throughput", "memory", "epoch", "imdb", "fashion"],
               "models_asked": ["lenet", "resnet50", "vgg16", "densenet121"],
               "variants_asked": ["fit", "tricks", "plain", "torchvision"],
               "sections": {"correctness": {"ok": True}, "epoch": {"error": "RuntimeError: out of memory"},
                            "imdb": {"models": {}}, "fashion": {"skipped": "skipped: budget"},
                            "throughput": {"models": {"lenet": {"variants": {}},
                                                      "resnet50": {"variants": {}, "skipped_variants": ["torchvision"]},
                                                      "vgg16": {"skipped": "skipped: budget"}}}}}
    (tmp_path / "one.json").write_text(json.dumps(earlier))
    a = gpu.parse(["--rest-of", str(tmp_path / "one.json"), "--only", "correctness"])
    sections, models = gpu.rest_of(a, gpu.sizes(a))
    assert sections == ("epoch", "fashion", "throughput", "memory")
    # resnet50 ran but without torchvision's model: (c) runs again beside it; densenet121 was never reached
    assert models == {"resnet50": ("tricks", "torchvision"), "vgg16": ("fit", "tricks", "plain", "torchvision"),
                      "densenet121": ("fit", "tricks", "plain", "torchvision")}


def test_without_rest_of_every_asked_section_and_model_runs():
    gpu = load_bench()
    a = gpu.parse(["--only", "memory", "--models", "resnet18,lenet"])
    sections, models = gpu.rest_of(a, gpu.sizes(a))
    assert sections == ("memory",)
    assert models == {"resnet18": ("fit", "plain"), "lenet": ("fit", "plain")}  # memory alone: (a) and (b)


def test_free_curves_are_judged_on_their_mean_and_one_step_on_loss_and_update():
    gpu = load_bench()
    d = gpu.drift([2.0, 2.2, 1.8], [2.0, 2.0, 2.0], "cpu fp32", tolerance=0.02)
    assert d["max_rel_diff"] == pytest.approx(0.1) and d["worst_step"] == 2
    assert d["mean_loss_rel_diff"] == pytest.approx(0.0) and d["ok"]  # steps apart, the same on average
    assert not gpu.drift([2.1, 2.1], [2.0, 2.0], "cpu fp32", tolerance=0.02)["ok"]
    p = gpu.Precision(False, False, 1e-5, 0.999, 2e-2)
    r = {"loss_rel_diff": [0.0, 5e-6], "update_cosine": [1.0, 0.9995], "update_rel_diff": [0.0, 0.01]}
    assert gpu.judge_one_step(r, p)["ok"]
    assert not gpu.judge_one_step({**r, "update_cosine": [1.0, 0.99]}, p)["ok"]
    assert not gpu.judge_one_step({**r, "loss_rel_diff": [0.0, 2e-5]}, p)["ok"]
