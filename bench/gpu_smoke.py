"""Does the CUDA path work? One script of checks for a GPU machine, each a real command, with its verdict.

The training loop's CUDA path (channels_last, bf16 autocast, torch.compile, NCCL, SyncBatchNorm, the
non-finite check kept on the device and read at check points) cannot run in CI, which has no GPU.
This runs each of those paths once, as a user would, and writes what happened to a JSON file (and
prints it), so a session with a GPU for a few minutes gets every answer from one call:

- `defaults`: `classicnets train` on digits with the CUDA defaults (compile, bf16, channels_last);
- `fp32`: the same with `--compile off --precision fp32` (and with TF32 off), the first epoch's loss
  against the CPU's for the same seed: the devices draw different shuffles (each its own generator),
  so they agree in distribution, not step for step;
- `nccl_sync_bn`: one process under torchrun (NCCL) with `--sync-bn` on a BatchNorm model;
- `nonfinite`: a NaN loss injected at step 14, with `--checkpoint-every 3`: on CUDA the loss is kept
  on the device and looked at only at check points, and the run must still name epoch 2, step 4 and
  keep the checkpoint of step 12;
- `sigterm`: SIGTERM at a chosen step (the test hook holds the process there), exit 143, `--resume`,
  and the result against an uninterrupted run (reported: cuDNN's kernels need not be bit-exact);
- `ops`: the detection operators against torchvision's compiled ones (CPU and CUDA kernels);
- `detectors`: each registered detection model's training step and inference on the GPU;
- `detect_cli`: faster_rcnn and mask_rcnn on digit_boxes through `train`, `evaluate` and `predict`.

    python bench/gpu_smoke.py --out /tmp/smoke        # needs a CUDA GPU
    python bench/gpu_smoke.py --out /tmp/smoke --only ops,fp32
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

DEVICE = "cuda"  # --dry-run-cpu: the same commands on the CPU, to test this script where there is no GPU
CLI = [sys.executable, "-m", "classicnets.cli"]
DIGITS = ["train", "--model", "lenet", "--data", "digits", "--batch-size", "128", "--seed", "4", "-q"]


def sh(cmd: list[str], timeout: float = 300, env: dict | None = None) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    return p.returncode, (p.stdout + p.stderr)[-3000:], time.perf_counter() - t0


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def losses(run: Path) -> list[float]:
    rows = (run / "metrics.csv").read_text().splitlines()
    i = rows[0].split(",").index("loss")
    return [float(r.split(",")[i]) for r in rows[1:]]


def check_defaults(tmp: Path) -> dict:
    run = tmp / "defaults"
    rc, out, s = sh([*CLI, *DIGITS, "--epochs", "10", "--device", DEVICE, "--out", str(run)])
    r = results(run) if rc == 0 else {}
    cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    return {"ok": rc == 0 and r.get("test_acc", 0) > 0.9, "rc": rc, "seconds": s, "test_acc": r.get("test_acc"),
            "device": cfg.get("device"), "output": out[-800:]}


NO_TF32 = """
import sys, torch
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
from classicnets.cli import main
main(sys.argv[1:])
"""


def check_fp32(tmp: Path) -> dict:
    """CPU against CUDA in fp32: with PyTorch's defaults (cuDNN convolutions in TF32) and with TF32 off."""
    out = {}
    for name, dev, pre in (("cpu", "cpu", CLI), (DEVICE, DEVICE, CLI), (f"{DEVICE}-no-tf32", DEVICE,
                                                                        [sys.executable, "-c", NO_TF32])):
        run = tmp / f"fp32-{name}"
        rc, text, s = sh([*pre, *DIGITS, "--epochs", "2", "--device", dev, "--compile", "off", "--precision", "fp32",
                          "--out", str(run)])
        out[name] = {"rc": rc, "seconds": s, "loss": losses(run) if rc == 0 else None,
                     "test_acc": results(run).get("test_acc") if rc == 0 else None, "output": text[-600:]}
    ok = all(v["rc"] == 0 for v in out.values())
    if ok:
        for name in (DEVICE, f"{DEVICE}-no-tf32"):
            out[f"relative_loss_difference {name} vs cpu"] = rel = [
                abs(a - b) / abs(b) for a, b in zip(out[name]["loss"], out["cpu"]["loss"])]
        # the CPU and a GPU shuffle with their own generators (torch.Generator(device)), so the runs see
        # different batches and agree in distribution only: the first epoch's mean loss to 1%
        ok = rel[0] < 1e-2
    return {"ok": ok, **out}


def check_nccl_sync_bn(tmp: Path) -> dict:
    run = tmp / "nccl"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m",
           "classicnets.cli", "train", "--model", "resnet20", "--arg", "in_channels=1", "--data", "digits",
           "--epochs", "2", "--batch-size", "128", "--device", DEVICE, "--sync-bn", "-q", "--out", str(run)]
    rc, text, s = sh(cmd)
    cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    r = results(run) if rc == 0 else {}
    return {"ok": rc == 0 and "nccl" in json.dumps(cfg.get("distributed", {})), "rc": rc, "seconds": s,
            "distributed": cfg.get("distributed"), "test_acc": r.get("test_acc"), "output": text[-800:]}


NAN_AT_14 = """
import sys
from classicnets.train import engine
real = engine.make_loss
count = [0]
def make_loss(task, label_smoothing=0.0, reduction="mean"):
    fn = real(task, label_smoothing, reduction)
    if reduction != "mean":
        return fn
    def loss(logits, y):
        count[0] += 1
        out = fn(logits, y)
        return out * float("nan") if count[0] == 14 else out
    return loss
engine.make_loss = make_loss
from classicnets.cli import main
main(sys.argv[1:])
"""


def check_nonfinite(tmp: Path) -> dict:
    run = tmp / "nonfinite"
    rc, text, s = sh([sys.executable, "-c", NAN_AT_14, *DIGITS, "--epochs", "2", "--device", DEVICE,
                      "--compile", "off", "--checkpoint-every", "3", "--out", str(run)])
    from classicnets.train.checkpoint import read_position
    pos = read_position(run / "checkpoint.safetensors") if (run / "checkpoint.safetensors").exists() else None
    named = "epoch 2, step 4 of 10" in text
    return {"ok": rc == 2 and named and pos == (1, 2), "rc": rc, "names_step": named, "checkpoint_position": pos,
            "seconds": s, "output": text[-600:]}


def check_sigterm(tmp: Path) -> dict:
    common = [*DIGITS, "--epochs", "2", "--device", DEVICE, "--compile", "off", "--checkpoint-every", "3"]
    ref = tmp / "sig-ref"
    rc0, text0, _ = sh([*CLI, *common, "--out", str(ref)])
    run, marker = tmp / "sig-run", tmp / "paused"
    env = {**os.environ, "CLASSICNETS_TEST_PAUSE_AT": "step:13", "CLASSICNETS_TEST_PAUSE_MARKER": str(marker)}
    p = subprocess.Popen([*CLI, *common, "--out", str(run)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    t0 = time.monotonic()
    while not marker.exists() and p.poll() is None and time.monotonic() - t0 < 240:
        time.sleep(0.05)
    paused = marker.exists()
    p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    marker.unlink(missing_ok=True)  # let it go on: it finishes the step, saves, and exits
    out, _ = p.communicate(timeout=120)
    rc1 = p.returncode
    rc2, text2, _ = sh([*CLI, "train", "--resume", str(run), "-q"])
    same = None
    if rc0 == 0 and rc2 == 0:
        a, b = results(ref), results(run)
        same = {k: (a.get(k), b.get(k)) for k in ("test_loss", "test_acc")}
    ok = paused and rc1 == 143 and rc2 == 0 and same is not None and \
        abs(same["test_loss"][0] - same["test_loss"][1]) < 1e-3 * abs(same["test_loss"][0])
    return {"ok": ok, "paused": paused, "rc_stopped": rc1, "stop_output": out[-600:], "rc_resume": rc2,
            "reference_vs_resumed": same, "output": (text0 + text2)[-600:]}


def check_ops(tmp: Path) -> dict:
    import torchvision.ops as tvo

    from classicnets.detection import ops
    g = torch.Generator().manual_seed(0)
    report = {}
    for dev in ("cpu", "cuda"):
        xy = torch.rand(3000, 2, generator=g) * 200
        wh = torch.rand(3000, 2, generator=g) * 60 + 1
        boxes = torch.cat([xy, xy + wh], 1).to(dev)
        scores = torch.rand(3000, generator=g).to(dev)
        labels = torch.randint(0, 5, (3000,), generator=g).to(dev)
        r = {"box_iou": (ops.box_iou(boxes[:500], boxes[500:1000]) - tvo.box_iou(boxes[:500], boxes[500:1000])).abs().max().item()}
        for t in (0.3, 0.5, 0.7):
            r[f"nms_{t}_same"] = torch.equal(ops.nms(boxes, scores, t).cpu(), tvo.nms(boxes, scores, t).cpu())
        r["batched_nms_same"] = torch.equal(ops.batched_nms(boxes, scores, labels, 0.5).cpu(),
                                            tvo.batched_nms(boxes, scores, labels, 0.5).cpu())
        feat = torch.randn(2, 8, 40, 40, generator=g).to(dev)
        rois = torch.cat([torch.randint(0, 2, (64, 1), generator=g).float(),
                          torch.rand(64, 2, generator=g) * 150, torch.rand(64, 2, generator=g) * 150 + 160], 1)
        rois[:, 3:] = rois[:, 1:3] + torch.rand(64, 2, generator=g) * 120 + 2
        rois = rois.to(dev)
        for aligned in (False, True):
            for ratio in (-1, 2):
                mine = ops.roi_align(feat, rois, 7, spatial_scale=0.125, sampling_ratio=ratio, aligned=aligned)
                theirs = tvo.roi_align(feat, rois, 7, spatial_scale=0.125, sampling_ratio=ratio, aligned=aligned)
                r[f"roi_align_aligned{aligned}_ratio{ratio}"] = (mine - theirs).abs().max().item()
        mine = ops.roi_pool(feat, rois, 7, spatial_scale=0.125)
        theirs = tvo.roi_pool(feat, rois, 7, spatial_scale=0.125)
        r["roi_pool"] = (mine - theirs).abs().max().item()
        r["roi_pool_ours_vs_theirs_cpu"] = (mine.cpu() - tvo.roi_pool(feat.cpu(), rois.cpu(), 7, 0.125)).abs().max().item()
        r["roi_pool_ours_vs_ours_cpu"] = (mine.cpu() - ops.roi_pool(feat.cpu(), rois.cpu(), 7, 0.125)).abs().max().item()
        r["roi_pool_theirs_vs_theirs_cpu"] = (theirs.cpu() - tvo.roi_pool(feat.cpu(), rois.cpu(), 7, 0.125)).abs().max().item()
        bad = ((mine - theirs).abs().amax((1, 2, 3)) > 1e-6).nonzero().flatten()[:3].tolist()
        r["roi_pool_mismatched_rois"] = [rois[i].tolist() for i in bad]
        if bad:
            i = bad[0]
            diff = ((mine[i] - theirs[i]).abs() > 1e-6).nonzero()[:4].tolist()
            r["roi_pool_first_mismatch_bins(c,y,x)"] = diff
            r["roi_pool_first_mismatch_values"] = [[mine[i][tuple(d)].item(), theirs[i][tuple(d)].item()] for d in diff]
        report[dev] = r
    ok = all((v is True) or (isinstance(v, float) and v < 1e-4) for r in report.values() for k, v in r.items()
             if not k.startswith("roi_pool_"))
    return {"ok": ok, **report}


def check_detectors(tmp: Path) -> dict:
    from classicnets.detection.data import load_digit_boxes
    from classicnets.zoo import create, list_models, model_info

    names = [n for n in list_models() if getattr(model_info(n), "task", "") == "detection"]
    data = load_digit_boxes(train=16, val=0, test=0)
    norm = data.normalization()
    x = norm(data.train.images[:8].cuda())
    targets = [{k: v.cuda() for k, v in data.train.target(i).items()} for i in range(8)]
    out = {}
    for name in names:
        try:
            model = create(name, seed=0).cuda()
            if getattr(model, "needs_proposals", False):
                for t in targets:
                    t["proposals"] = torch.cat([t["boxes"], t["boxes"] + 2])
            model.train()
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
            first = last = None
            t0 = time.perf_counter()
            for _ in range(10):
                loss = sum(model(x, targets).values())
                opt.zero_grad()
                loss.backward()
                opt.step()
                first = first if first is not None else loss.item()
                last = loss.item()
            torch.cuda.synchronize()
            step = (time.perf_counter() - t0) / 10
            model.eval()
            with torch.no_grad():
                det = model(x)
            out[name] = {"ok": last < first and len(det) == 8, "first_loss": first, "last_loss": last,
                         "seconds_per_step": step}
        except Exception as e:  # noqa: BLE001 - reported
            out[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"[-800:]}
    return {"ok": all(v["ok"] for v in out.values()), "models": out}


def check_detect_cli(tmp: Path) -> dict:
    """faster_rcnn and mask_rcnn through `classicnets train / evaluate / predict` with the CUDA defaults."""
    from PIL import Image

    from classicnets.detection.data import load_digit_boxes
    image = tmp / "canvas.png"
    Image.fromarray(load_digit_boxes(train=1, val=0, test=1).test.images[0, 0].numpy()).save(image)
    out = {}
    for model, epochs in (("faster_rcnn", DETECT_EPOCHS), ("mask_rcnn", 1)):
        run = tmp / model
        rc, text, s = sh([*CLI, "train", "--model", model, "--data", "digit_boxes", "--epochs", str(epochs),
                          "--device", DEVICE, "-q", "--out", str(run), *DETECT_ARGS], timeout=400)
        r = {"rc": rc, "seconds": s, "output": text[-700:]}
        if rc == 0:
            r["results"] = {k: v for k, v in results(run).items() if "map" in k or "loss" in k}
            rc2, text2, _ = sh([*CLI, "evaluate", str(run)])
            rc3, text3, _ = sh([*CLI, "predict", str(run), str(image), "--out", str(tmp / f"{model}.png")])
            r.update(evaluate_rc=rc2, evaluate=text2[-900:], predict_rc=rc3, predict=text3[-400:],
                     drawn=(tmp / f"{model}.png").exists())
        out[model] = r
    ok = all(v["rc"] == 0 and v.get("evaluate_rc") == 0 and v.get("predict_rc") == 0 and v.get("drawn")
             for v in out.values())
    return {"ok": ok, **out}


DETECT_EPOCHS = 4
DETECT_ARGS = ["--optimizer", "adamw", "--lr", "3e-3", "--weight-decay", "1e-4", "--batch-size", "8"]

CHECKS = {"defaults": check_defaults, "fp32": check_fp32, "nccl_sync_bn": check_nccl_sync_bn,
          "nonfinite": check_nonfinite, "sigterm": check_sigterm, "ops": check_ops, "detectors": check_detectors,
          "detect_cli": check_detect_cli}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for smoke.json")
    ap.add_argument("--only", default="", help="comma-separated checks (default: all): " + ", ".join(CHECKS))
    ap.add_argument("--dry-run-cpu", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    global DEVICE
    if a.dry_run_cpu:
        DEVICE = "cpu"
    elif not torch.cuda.is_available():
        sys.exit("gpu_smoke needs a CUDA GPU")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    want = [c for c in a.only.split(",") if c] or list(CHECKS)
    report = {"device": torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu (dry run)", "torch": torch.__version__, "checks": {}}
    with tempfile.TemporaryDirectory() as d:
        for name in want:
            t0 = time.perf_counter()
            try:
                r = CHECKS[name](Path(d))
            except Exception:  # noqa: BLE001 - a broken check is a result too
                r = {"ok": False, "error": traceback.format_exc()[-1500:]}
            r["check_seconds"] = round(time.perf_counter() - t0, 1)
            report["checks"][name] = r
            print(f"{name:<14} {'ok' if r['ok'] else 'FAILED'}  ({r['check_seconds']} s)", flush=True)
            (out / "smoke.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
