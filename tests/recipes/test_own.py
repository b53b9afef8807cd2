"""The project's own recipe, fashion_mnist_fast: its settings reach the trainer (on a stand-in in the
real file format, served through the real loader), and one short epoch of them learns the real data
(Debian's copy of Fashion-MNIST, when installed)."""
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from classicnets.data import idx
from classicnets.data.download import RemoteFile
from classicnets.recipes import get_recipe, own  # noqa: F401  (importing own registers its recipes)
from classicnets.runs.run import train_recipe
from classicnets.train import Callback

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


class Spy(Callback):
    def on_train_begin(self, trainer):
        self.trainer = trainer


def serve_fashion(root, base, monkeypatch, train=30, test=10):
    rng = np.random.default_rng(2)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": (np.arange(train) % 10).astype(np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": (np.arange(test) % 10).astype(np.uint8)}
    files = {}
    for name, a in arrays.items():
        data = gzip.compress(bytes([0, 0, 0x08, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
                             + a.tobytes())
        (root / name).write_bytes(data)
        files[name] = RemoteFile(name, f"{base}/{name}", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(idx, "FASHION_FILES", files)


def test_fashion_mnist_fast_settings_reach_the_trainer(server, monkeypatch, tmp_path):
    root, base = server
    serve_fashion(root, base, monkeypatch)
    spy = Spy()
    result = train_recipe("fashion_mnist_fast", overrides={"train": {"epochs": 1}}, out=tmp_path / "run",
                          callbacks=[spy], log=lambda s: None)
    t = spy.trainer
    assert type(t.model).__name__ == "Airbench" and t.config.epochs == 1
    opt = t.optimizer
    assert type(opt) is torch.optim.SGD and type(t.scheduler) is torch.optim.lr_scheduler.OneCycleLR
    group = opt.param_groups[0]
    assert group["max_lr"] == 0.1 and group["nesterov"] and group["weight_decay"] == 5e-4
    assert t.config.label_smoothing == 0.1 and t.config.precision == "bf16" and t.config.eval_batch_size == 256
    assert t.config.tta == "flip"  # the test score averages each image with its mirror
    assert t.train_loader.batch_size == 128
    assert t.num_train == 30 and t.val_loader is None  # all training images: the settings are chosen already
    aug = t.train_loader.augment.config
    assert aug.horizontal_flip and aug.translate == 2 and aug.fill_mode == "constant"  # zeros, not Keras's nearest
    assert t.normalization.mean != [0.0]  # standardised with the training images' statistics
    record = json.loads((result.run / "config.json").read_text())
    assert record["recipe"]["name"] == "fashion_mnist_fast"
    assert result.results["course"]["value"] == 0.949 and "Fashion-MNIST's README" in result.results["course"]["source"]
    assert get_recipe("fashion_mnist_fast").run_config().train.epochs > 1


def _real():
    from classicnets.data.core import Dataset, Split
    a = [idx.parse_idx(gzip.decompress((DEBIAN / n).read_bytes()), n) for n in idx.NAMES]
    split = lambda x, y: Split(torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))  # noqa: E731
    return Dataset("fashion-mnist", idx.FASHION_CLASSES, train=split(a[0], a[1]), test=split(a[2], a[3]))


@pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_one_short_epoch_of_the_recipe_learns_real_fashion_mnist():
    import dataclasses

    from classicnets.data.core import Dataset
    from classicnets.train.engine import fit
    from classicnets.train.evaluation import evaluate
    from classicnets.zoo import create

    data = _real()
    small = Dataset(data.name, data.classes, train=data.train.subset(torch.arange(8000)),
                    test=data.test.subset(torch.arange(2000)))
    cfg = get_recipe("fashion_mnist_fast").run_config()
    train = dataclasses.replace(cfg.train, epochs=1, device="cpu")
    model = create(cfg.model, seed=0)
    history = fit(model, small, train, augment=cfg.augment)
    acc = evaluate(model, small, normalization=history.normalization, batch_size=train.eval_batch_size)["acc"]
    assert acc > 0.7  # 63 steps on 8,000 real images (0.764 on the development machine); chance is 0.1
