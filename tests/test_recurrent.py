"""Keras-style recurrent layers: fused kernels, stacking, bidirectional merges, one dropout mask per sequence."""
import pytest
import torch

from classicnets.recurrent import GRU, LSTM, Bidirectional, Embedding, Recurrent, SimpleRNN, keras_param_count
from classicnets.zoo import create

CELLS = ["simple", "lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_step_loop_computes_what_the_fused_kernel_computes(cell, bidirectional):
    torch.manual_seed(0)
    layer = Recurrent(cell, 5, 7, bidirectional=bidirectional, return_sequences=True)
    x = torch.randn(3, 11, 5)
    fused, h = layer.rnn(x)
    looped, last = layer.step_loop(x)
    torch.testing.assert_close(looped, fused, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, h[0] if cell == "lstm" else h, atol=1e-5, rtol=1e-5)


def test_return_sequences_and_last_step_outputs():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 4)
    seq = SimpleRNN(4, 6, return_sequences=True)
    last = SimpleRNN(4, 6)
    last.load_state_dict(seq.state_dict())
    out = seq(x)
    assert out.shape == (2, 9, 6) and last(x).shape == (2, 6)
    torch.testing.assert_close(last(x), out[:, -1])


@pytest.mark.parametrize("mode, width", [("concat", 12), ("sum", 6), ("ave", 6), ("mul", 6)])
def test_bidirectional_merges_the_forward_last_step_with_the_backward_first(mode, width):
    torch.manual_seed(0)
    x = torch.randn(2, 9, 4)
    layer = Bidirectional(LSTM(4, 6), merge_mode=mode)
    seq = Bidirectional(LSTM(4, 6, return_sequences=True), merge_mode="concat")
    seq.load_state_dict(layer.state_dict())
    full = seq(x)                      # (2, 9, 12): forward then backward features
    fwd, bwd = full[:, -1, :6], full[:, 0, 6:]
    expected = {"concat": torch.cat([fwd, bwd], 1), "sum": fwd + bwd, "ave": (fwd + bwd) / 2, "mul": fwd * bwd}[mode]
    out = layer(x)
    assert out.shape == (2, width) and layer.out_features == width
    torch.testing.assert_close(out, expected)
    # the backward direction really reads the sequence reversed
    rev = GRU(4, 6)
    both = Bidirectional(GRU(4, 6), "concat")
    assert both(x).shape == (2, 12) and rev(x).shape == (2, 6)


def test_recurrent_dropout_draws_one_mask_per_sequence_not_per_step(monkeypatch):
    torch.manual_seed(0)
    layer = LSTM(4, 8, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    shapes = []
    real = torch.bernoulli
    monkeypatch.setattr(torch, "bernoulli", lambda p, *a, **k: shapes.append(tuple(p.shape)) or real(p, *a, **k))
    x = torch.randn(3, 20, 4)
    layer.train()
    layer(x)
    assert shapes == [(3, 1, 4), (3, 8)]  # input mask broadcast over time, one state mask: 2 draws for 20 steps
    shapes.clear()
    layer.eval()                          # evaluation: no dropout, the fused kernel
    out = layer(x)
    assert shapes == []
    torch.testing.assert_close(out, layer.step_loop(x)[0], atol=1e-5, rtol=1e-5)


def test_input_dropout_drops_the_same_features_at_every_step():
    torch.manual_seed(0)
    layer = SimpleRNN(16, 4, dropout=0.5)
    seen = []
    layer.rnn.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    layer.train()
    layer(torch.ones(2, 10, 16))
    dropped = seen[0] == 0                                    # (2, 10, 16)
    assert dropped.any() and (dropped == dropped[:, :1]).all()  # constant along time
    assert torch.allclose(seen[0][~dropped], torch.tensor(2.0))  # kept features scaled by 1/(1-p)


def test_recurrent_dropout_trains_through_the_step_loop():
    torch.manual_seed(0)
    layer = GRU(3, 5, recurrent_dropout=0.3)
    out = layer(torch.randn(2, 6, 3))
    out.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_keras_initialisation_and_padding_row():
    torch.manual_seed(0)
    layer = LSTM(4, 8)
    assert torch.equal(layer.rnn.bias_ih_l0[8:16], torch.ones(8)) and not layer.rnn.bias_hh_l0.any()
    w = layer.rnn.weight_hh_l0[:8]                            # one gate's recurrent matrix is orthogonal
    torch.testing.assert_close(w @ w.T, torch.eye(8), atol=1e-5, rtol=0)
    emb = Embedding(10, 3)
    assert not emb.weight[0].any() and emb.weight.abs().max() <= 0.05
    emb(torch.tensor([[0, 1]])).sum().backward()
    assert not emb.weight.grad[0].any()
    with pytest.raises(ValueError, match="integer word ids"):
        emb(torch.zeros(1, 2))


def test_keras_counts_one_bias_per_simple_rnn_and_lstm_gate():
    # the course's Keras summaries (recurrent chapter)
    assert keras_param_count(create("imdb_simple_rnn")) == 322_113
    assert keras_param_count(create("imdb_stacked_rnn", include_top=False)) == 328_320
    assert keras_param_count(create("imdb_bidirectional_rnn")) == 324_225
    # PyTorch's real counts: one more bias vector per layer and direction
    assert sum(p.numel() for p in create("imdb_simple_rnn").parameters()) == 322_113 + 32
    assert sum(p.numel() for p in create("imdb_bidirectional_rnn").parameters()) == 324_225 + 64
    # GRU counts the same in both (Keras reset_after=True)
    m = create("imdb_gru")
    assert keras_param_count(m) == sum(p.numel() for p in m.parameters())
