"""Keras's literal behaviours as builder options of the Keras-born models (`classicnets.zoo.keras_literal`):
the initialisers' statistics, BatchNorm momentum in Keras's sense, the embedding's trainable row 0, and
a bare Dense(1) read as a clipped probability."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from classicnets.errors import UserError
from classicnets.recurrent import Embedding, Recurrent
from classicnets.zoo import create, list_models, model_info
from classicnets.zoo.keras_literal import KERAS_EPSILON, ProbabilityAsLogit

# The zoo's networks built from the course's Keras code or the Keras examples it cites.
KERAS_BORN = {"mlp", "small_vgg", "cifar_convnet", "cifar_convnet_gmp", "cifar_dropout_convnet", "resnet_mini",
              "mnist_cnn", "imdb_simple_rnn", "imdb_stacked_rnn", "imdb_bidirectional_rnn", "imdb_lstm", "imdb_gru",
              "imdb_bilstm", "imdb_conv1d", "imdb_cnn"}
TEXT = {n for n in KERAS_BORN if n.startswith("imdb_")}


def test_the_keras_born_models_and_only_they_take_init():
    assert {n for n in list_models() if "init" in model_info(n).arguments()} == KERAS_BORN
    assert {n for n in list_models() if "pad_row" in model_info(n).arguments()} == TEXT


def layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


def glorot_bound(w: torch.Tensor) -> float:
    """Keras's glorot_uniform limit: sqrt(6 / (fan_in + fan_out)), fans over the kernel's area."""
    area = math.prod(w.shape[2:])
    return math.sqrt(6 / (w.shape[1] * area + w.shape[0] * area))


@pytest.mark.parametrize("name", sorted(KERAS_BORN))
def test_keras_init_gives_glorot_uniform_kernels_and_zero_biases(name):
    kwargs = {"input_size": 32} if name == "small_vgg" else {}
    model = create(name, seed=0, init="keras", **kwargs)
    assert layers(model)
    for m in layers(model):
        bound = glorot_bound(m.weight)
        w = m.weight.detach().double()
        assert w.abs().max() <= bound
        if w.numel() >= 10_000:  # enough draws for the uniform's statistics to show
            assert w.abs().max() > 0.99 * bound
            assert w.var().item() == pytest.approx(bound ** 2 / 3, rel=0.05)  # uniform(-a, a): a^2 / 3
            assert abs(w.mean().item()) < 0.02 * bound
        assert m.bias is None or torch.equal(m.bias, torch.zeros_like(m.bias))


def test_torch_init_is_the_default_and_differs():
    torch_model, keras_model = create("cifar_convnet", seed=0), create("cifar_convnet", seed=0, init="keras")
    dense = torch_model.classifier[1]
    assert dense.bias.abs().sum() > 0                           # PyTorch: uniform biases
    assert dense.weight.abs().max() <= 1 / math.sqrt(dense.in_features)  # kaiming_uniform(a=sqrt(5)) bound
    assert torch.equal(keras_model.classifier[1].bias, torch.zeros(1024))
    assert torch.equal(create("cifar_convnet", seed=0, init="keras").classifier[1].weight,
                       keras_model.classifier[1].weight)        # seeded: the same weights every time


def test_recurrent_layers_keep_keras_initialisation_whatever_init_says():
    for init in ("torch", "keras"):
        model = create("imdb_lstm", seed=0, init=init)
        rnn = next(m for m in model.modules() if isinstance(m, Recurrent)).rnn
        w_hh = rnn.weight_hh_l0.detach()
        for gate in w_hh.chunk(4, 0):                           # orthogonal per gate
            assert torch.allclose(gate @ gate.T, torch.eye(32), atol=1e-5)
        assert torch.equal(rnn.bias_ih_l0[32:64], torch.ones(32))  # forget bias 1
        emb = model.embedding.weight.detach()
        assert emb[1:].abs().max() <= 0.05                      # Keras's uniform(-0.05, 0.05)
    head = create("imdb_lstm", seed=0, init="keras").dense
    assert torch.equal(head.bias, torch.zeros(1)) and head.weight.abs().max() <= glorot_bound(head.weight)


def test_bn_momentum_is_pytorchs_one_minus_keras_and_updates_as_keras_does():
    default = create("resnet_mini")
    assert {m.momentum for m in default.modules() if isinstance(m, nn.BatchNorm2d)} == {0.1}  # Keras's 0.9
    model = create("resnet_mini", seed=0, bn_momentum=0.01)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 25 and {m.momentum for m in bns} == {0.01} and {m.eps for m in bns} == {1e-3}
    # Keras: moving = m * moving + (1 - m) * batch, m = 0.99
    bn = bns[0]
    x = torch.randn(16, 32, 8, 8) + 3.0
    before = bn.running_mean.clone()
    bn.train()
    bn(x)
    assert torch.allclose(bn.running_mean, 0.99 * before + 0.01 * x.mean(dim=(0, 2, 3)), atol=1e-6)


@pytest.mark.parametrize("name", sorted(TEXT))
def test_pad_row_trainable_trains_row_zero_as_keras(name):
    ids = torch.tensor([[0, 0, 5, 7, 9] * 20])                  # pre-padded, as pad_sequences does
    for pad_row, trained in (("zero", False), ("trainable", True)):
        model = create(name, seed=0, pad_row=pad_row)
        emb = next(m for m in model.modules() if isinstance(m, Embedding))
        assert (emb.padding_idx is None) == trained
        assert bool(emb.weight[0].abs().sum() > 0) == trained   # Keras's row 0 starts as any other row
        model(ids).sum().backward()
        assert bool(emb.weight.grad[0].abs().sum() > 0) == trained


def keras_binary_crossentropy(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Keras 2's backend.binary_crossentropy on a non-sigmoid output, transcribed."""
    p = o.clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -(y * torch.log(p + KERAS_EPSILON) + (1 - y) * torch.log(1 - p + KERAS_EPSILON)).mean()


def test_probability_output_is_kerass_clipped_cross_entropy():
    inside = torch.tensor([0.02, 0.3, 0.5, 0.7, 0.97], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    ours = F.binary_cross_entropy_with_logits(ProbabilityAsLogit()(inside), y)   # what train.losses computes
    (g_ours,) = torch.autograd.grad(ours, inside)
    keras = keras_binary_crossentropy(inside, y)
    (g_keras,) = torch.autograd.grad(keras, inside)
    assert ours.item() == pytest.approx(keras.item(), rel=1e-5)
    assert torch.allclose(g_ours, g_keras, rtol=1e-4)
    # outside [1e-7, 1 - 1e-7] the output is clipped: no gradient, as clip_by_value gives none; the loss is
    # -log(1e-7) here against Keras's -log(2e-7) (the eps it adds inside its logarithms)
    outside = torch.tensor([-0.4, 1.3], requires_grad=True)
    (g,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(ProbabilityAsLogit()(outside),
                                                                  torch.tensor([1.0, 0.0])), outside)
    assert torch.equal(g, torch.zeros(2))
    o = torch.tensor([0.02, 0.3, 0.5, 0.51, 0.97, -0.4, 1.3])
    logits = ProbabilityAsLogit()(o)
    assert torch.equal(logits > 0, o > 0.5)                     # accuracy at output > 0.5 (Keras's binary_accuracy)
    assert torch.allclose(torch.sigmoid(logits), o.clamp(KERAS_EPSILON, 1 - KERAS_EPSILON), atol=1e-6)


def test_probability_output_is_one_layer_after_the_dense_and_needs_one_output():
    model = create("imdb_conv1d", seed=0, output="probability")
    assert isinstance(model[-1], ProbabilityAsLogit) and isinstance(model[-2], nn.Linear)
    assert not isinstance(create("imdb_conv1d", seed=0)[-1], ProbabilityAsLogit)
    with pytest.raises(UserError, match="one Dense"):
        create("imdb_conv1d", num_classes=2, output="probability")


@pytest.mark.parametrize("name, option, value", [("resnet_mini", "init", "glorot"), ("resnet_mini", "bn_momentum", 0.0),
                                                 ("resnet_mini", "bn_momentum", 1.5), ("imdb_cnn", "pad_row", "none"),
                                                 ("imdb_conv1d", "output", "sigmoid")])
def test_bad_values_are_one_sentence_naming_the_option(name, option, value):
    with pytest.raises(UserError, match=option):
        create(name, **{option: value})


def test_mnist_cnn_is_kerass_example():
    model = create("mnist_cnn", seed=0)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [(32, (3, 3), (0, 0)), (64, (3, 3), (0, 0))]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.5]
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
