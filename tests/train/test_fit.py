import math

import pytest
import torch

from classicnets.data import AugmentConfig
from classicnets.errors import UserError
from classicnets.train import Callback, Checkpoint, TrainConfig, evaluate, fit, predict
from classicnets.zoo import create

FAST = TrainConfig(epochs=4, batch_size=64, seed=1)


def _train(data, config=FAST, **kw):
    torch.manual_seed(config.seed)
    model = create("lenet", input_size=8)
    return model, fit(model, data, config, augment=AugmentConfig(translate=1), **kw)


def test_history_reads_like_keras(digits):
    _, h = _train(digits)
    assert h.epoch == [0, 1, 2, 3]
    assert set(h.history) == {"loss", "acc", "val_loss", "val_acc", "lr"}
    assert all(len(v) == 4 for v in h.history.values())
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.normalization == digits.normalization()


def test_same_seed_same_metrics_other_seed_other_metrics(digits):
    (m1, h1), (m2, h2) = _train(digits), _train(digits)
    assert h1.history == h2.history
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    _, h3 = _train(digits, TrainConfig(epochs=4, seed=2))
    assert h3.history != h1.history


class Interrupt(Callback):
    order = 200  # after the checkpoint is written, like a Ctrl-C between epochs

    def __init__(self, after_epoch):
        self.after_epoch = after_epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("config", [
    TrainConfig(epochs=5, seed=3),                                          # Adam + one-cycle
    TrainConfig(epochs=5, seed=3, optimizer="sgd", nesterov=True, schedule="step", step_epochs=2,
                early_stopping=10, keep_best=True),
])
def test_resumed_run_ends_exactly_like_an_uninterrupted_one(digits, tmp_path, config):
    full_model, full = _train(digits, config, callbacks=[Checkpoint(tmp_path / "a.safetensors")])
    ckpt = tmp_path / "b.safetensors"
    with pytest.raises(KeyboardInterrupt):
        _train(digits, config, callbacks=[Checkpoint(ckpt), Interrupt(after_epoch=1)])
    torch.manual_seed(12345)  # a resumed process starts from another RNG state
    model = create("lenet", input_size=8)
    resumed = fit(model, digits, config, augment=AugmentConfig(translate=1),
                  callbacks=[Checkpoint(ckpt)], resume=str(ckpt))
    assert resumed.epoch == full.epoch
    assert resumed.history == full.history
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(),
                                                 full_model.state_dict().values()))


def test_early_stopping_and_keep_best(digits):
    cfg = TrainConfig(epochs=30, lr=0.05, optimizer="sgd", schedule="constant", early_stopping=2,
                      monitor="val_acc", keep_best=True, seed=0)
    model, h = _train(digits, cfg)
    accs = h.history["val_acc"]
    best = max(range(len(accs)), key=accs.__getitem__)
    assert len(accs) < 30 and len(accs) - 1 - best >= 2  # stopped after 2 epochs without improvement
    val = evaluate(model, digits, split="val", normalization=h.normalization)
    assert val["acc"] == pytest.approx(accs[best])  # the best epoch's weights were restored


def test_validation_split_holds_out_a_stratified_part(digits):
    _, h = _train(digits, TrainConfig(epochs=1, val_split=0.25))
    assert "val_acc" in h.history
    with pytest.raises(UserError, match="needs validation data"):
        fit(create("lenet"), (digits.train.x, digits.train.y), TrainConfig(epochs=1, early_stopping=2))


def test_diverging_loss_is_reported(digits):
    with pytest.raises(UserError, match="loss became nan.*lower the learning rate"):
        _train(digits, TrainConfig(epochs=2, lr=1e12, optimizer="sgd", schedule="constant"))


def test_fit_on_tensors_and_predict_probabilities(digits):
    model = create("lenet")
    h = fit(model, (digits.train.x, digits.train.y), TrainConfig(epochs=2, schedule="constant"))
    assert "val_loss" not in h.history and h.normalization.max_value == 255.0
    p = predict(model, digits.test.x[:5], normalization=h.normalization)
    assert p.shape == (5, 10) and torch.allclose(p.sum(1), torch.ones(5))
    assert math.isfinite(evaluate(model, (digits.test.x, digits.test.y))["loss"])
