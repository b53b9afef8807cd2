"""Training recurrent networks: the adding problem that motivated LSTMs, per-step classes, binary text."""
import pytest
import torch

from classicnets.data import Split, load_dataset
from classicnets.train import TrainConfig
from classicnets.train.engine import fit
from classicnets.train.evaluation import evaluate, predict
from classicnets.zoo import create

FAST = dict(batch_size=50, lr=1e-2, seed=0)


@pytest.fixture(scope="module")
def adding50():
    return load_dataset("adding", length=50)


def test_the_adding_problem_baseline_is_one_sixth(adding50):
    s = adding50.test
    assert s.x.shape == (1000, 50, 2) and (s.x[:, :, 1].sum(1) == 2).all()
    first, second = s.x[:, :25, 1].argmax(1), s.x[:, 25:, 1].argmax(1) + 25  # one marker in each half
    torch.testing.assert_close(s.y[:, 0], s.x[torch.arange(1000), first, 0] + s.x[torch.arange(1000), second, 0])
    assert abs(((s.y - 1) ** 2).mean().item() - 1 / 6) < 0.02   # always answering 1


def test_lstm_solves_the_adding_problem_at_length_50_and_simple_rnn_does_not(adding50):
    results = {}
    for name in ("lstm", "simple_rnn"):
        torch.manual_seed(0)
        model = create(name, units=32)  # same width for both
        fit(model, adding50, TrainConfig(epochs=8, **FAST))
        results[name] = evaluate(model, adding50)
    assert set(results["lstm"]) == {"loss"}                      # regression: MSE, no accuracy
    assert results["lstm"]["loss"] < 0.02                         # far below the 0.167 of answering 1
    assert results["simple_rnn"]["loss"] > 0.12                   # still near it


def test_per_step_classes_on_the_copy_task():
    d = load_dataset("copy", delay=5)
    assert d.input_shape == (25,) and d.kind == "tokens" and d.meta["per_step"]
    torch.manual_seed(0)
    model = create("gru", num_words=10, embed_dim=8, units=16, num_classes=10, per_step=True)
    history = fit(model, d, TrainConfig(epochs=2, **FAST))
    out = evaluate(model, d, confusion=True)
    assert model(d.test.x[:3]).shape == (3, 25, 10)
    assert 0.0 <= out["acc"] <= 1.0 and out["confusion"].sum() == 1000 * 25
    assert history.history["loss"][-1] < history.history["loss"][0]
    probs = predict(model, d.test.x[:4])
    assert probs.shape == (4, 25, 10) and torch.allclose(probs.sum(-1), torch.ones(4, 25))


def test_binary_tasks_use_one_logit_and_report_accuracy_at_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(3, 50, (400, 12), generator=g, dtype=torch.int32)
    y = (x == 7).any(1).long()                     # positive when word 7 occurs
    x[:200][y[:200] == 0, 0] = 7                   # balance the classes a little
    y = (x == 7).any(1).long()
    data = Split(x, y)
    torch.manual_seed(0)
    model = create("imdb_conv1d", num_words=50, embed_dim=16, filters=8, kernel_size=3, pool=2)
    history = fit(model, data, TrainConfig(epochs=15, batch_size=32, lr=3e-3), task="binary")
    assert history.history["acc"][-1] > 0.9
    out = evaluate(model, data, task="binary", confusion=True)
    assert out["confusion"].shape == (2, 2) and out["confusion"].sum() == 400
    p = predict(model, x[:5], task="binary")
    assert p.shape == (5, 2) and torch.allclose(p.sum(1), torch.ones(5))
