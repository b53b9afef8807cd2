"""Registry-driven model tests: every registered model is built, run, counted and checked.

A new model is tested by being registered: forward and backward on a small input, its geometry at
its default input (strict), MACs against torch's flop counter, and whichever reference counts it
declares (exact totals or trainable counts, or a paper's rounded figure).
"""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from classicnets.errors import UserError
from classicnets.inspect import count_params, summarize
from classicnets.recurrent import keras_param_count
from classicnets.zoo import create, list_models, model_info, parameter_count, register_model, registry

MODELS = list_models()
# detection models take (images, targets) and return losses or detections: tests/detection/test_models.py
CLASSIFIERS = [n for n in MODELS if model_info(n).task == "classification"]


def small(name):
    """A small input the model accepts: at most 64x64 (or 64 steps), with input_size passed where
    it sizes layers."""
    info = model_info(name)
    if len(info.input_shape) == 3:
        c, h, w = info.input_shape
        shape = (c, min(h, 64), min(w, 64))
    else:  # (time,) word ids or (time, features) sequences
        shape = (min(info.input_shape[0], 64), *info.input_shape[1:])
    kwargs = {"input_size": shape[0 if len(shape) < 3 else 1]} if "input_size" in info.arguments() else {}
    return shape, kwargs


def example(name, shape, batch=2, device=None):
    """A batch for the model: random word ids below 100 for text models, else random floats."""
    if model_info(name).input_dtype == "long":
        return torch.randint(1, 100, (batch, *shape), device=device)
    return torch.randn(batch, *shape, device=device)


def dtype_of(name):
    return torch.long if model_info(name).input_dtype == "long" else torch.float32


def rounded_matches(value: int, figure: str) -> bool:
    """'0.27M' matches 269,722: the value rounded to the figure's last digit."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}[figure[-1]]
    digits = len(figure[:-1].split(".")[1]) if "." in figure else 0
    return round(value / scale, digits) == float(figure[:-1])


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_forward_backward_on_a_small_input(name):
    torch.manual_seed(0)
    shape, kwargs = small(name)
    model = create(name, num_classes=7, **kwargs)
    out = model(example(name, shape))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_reference_counts_geometry_and_macs(name):
    info = model_info(name)
    with torch.device("meta"):  # shapes only: fast, and no memory for VGG's 138M weights
        model = create(name)
        s = summarize(model, info.input_shape, strict=True, dtype=dtype_of(name))  # raises on invalid geometry
    trainable, non_trainable = count_params(model)
    assert (s.trainable, s.non_trainable) == (trainable, non_trainable)
    assert parameter_count(name) == trainable + non_trainable  # what `classicnets models` shows
    if info.num_params is not None:
        assert trainable + non_trainable == info.num_params, info.params_source
    if info.trainable_params is not None:
        assert trainable == info.trainable_params, info.params_source
    if info.non_trainable_params is not None:
        assert non_trainable == info.non_trainable_params, info.params_source
    if info.approx_params is not None:
        assert rounded_matches(trainable, info.approx_params), (trainable, info.approx_params)
    if info.approx_macs is not None:
        assert rounded_matches(s.macs, info.approx_macs), (s.macs, info.approx_macs)
    if info.keras_params is not None:
        assert keras_param_count(model) == info.keras_params, info.params_source
    assert any(v is not None for v in (info.num_params, info.trainable_params, info.approx_params,
                                       info.keras_params)) \
        or name in {"zfnet", "highway_conv", "vgg11_bn", "vgg13_bn", "vgg19_bn", "imdb_lstm", "imdb_gru",
                    "imdb_bilstm", "kim_cnn"} or name.startswith("preact_") or info.task == "detection"


@pytest.mark.parametrize("name", MODELS)
def test_macs_agree_with_torch_flop_counter(name):
    shape, kwargs = small(name)
    with torch.device("meta"):
        model = create(name, **kwargs).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *shape, dtype=dtype_of(name)))
        assert 2 * summarize(model, shape, dtype=dtype_of(name)).macs == counter.get_total_flops()


def test_lenet5_layer_counts_match_the_paper_layout():
    # C1 156, C3 2,416 (full connection table), C5 48,120, F6 10,164, output 850
    rows = summarize(create("lenet5"), (1, 32, 32)).rows
    assert [r.params for r in rows if r.params] == [156, 2416, 48120, 10164, 850]
    assert [r.output_shape for r in rows if r.kind == "Conv2d"] == [(1, 6, 28, 28), (1, 16, 10, 10)]


def test_mobilenet_base_without_top_matches_the_course_at_any_resolution():
    with torch.device("meta"):
        for size in (160, 224):
            model = create("mobilenet", include_top=False)
            assert count_params(model) == (3_206_976, 21_888)  # 3,228,864 in all
            assert summarize(model, (3, size, size)).rows[-1].output_shape == (1, 1024, size // 32, size // 32)
        assert sum(count_params(create("mobilenet", alpha=0.5, include_top=False))) < 1_000_000


def test_zfnet_feature_maps_follow_the_paper():
    with torch.device("meta"):
        rows = summarize(create("zfnet"), (3, 224, 224)).rows
    sizes = [r.output_shape[2] for r in rows if r.kind in ("Conv2d", "MaxPool2d")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    assert rows[0].receptive_field == (7, 7) and rows[0].jump == (2, 2)


def test_highway_gates_start_by_carrying():
    model = create("highway", depth=3)
    gate = model[3].gate
    assert torch.all(gate.bias == -2.0)
    x = torch.randn(4, 50)
    t = torch.sigmoid(gate(x))
    assert t.mean() < 0.3  # mostly carry at initialisation


def test_googlenet_auxiliary_heads_only_in_training():
    model = create("googlenet", aux_logits=True, num_classes=5)
    out = model(torch.randn(2, 3, 96, 96))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 5)] * 3
    assert model.eval()(torch.randn(1, 3, 96, 96)).shape == (1, 5)
    assert sum(count_params(create("googlenet", paper=True))) > 6_624_904  # 5x5 kernels, no BN


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_plain_networks_are_the_cifar_resnets_without_shortcuts(depth):
    # option A shortcuts hold no parameters, so the counts are equal to the last one
    assert parameter_count(f"plain{depth}") == parameter_count(f"resnet{depth}")
    with torch.device("meta"):
        trainable, _ = count_params(create(f"resnet{depth}"))
    assert trainable == model_info(f"plain{depth}").trainable_params  # the count plainN declares
    plain, residual = create(f"plain{depth}", seed=0), create(f"resnet{depth}", seed=0)
    assert plain.state_dict().keys() == residual.state_dict().keys()  # layer for layer the same
    x = torch.randn(2, 16, 8, 8)
    for net in (plain, residual):
        unit = net.conv2[0].eval()
        for conv in (unit.conv1, unit.conv2):
            torch.nn.init.zeros_(conv.weight)  # the unit's own branch now adds nothing
    with torch.no_grad():
        assert torch.equal(residual.conv2[0](x), torch.relu(x))  # the shortcut carries the input
        assert torch.equal(plain.conv2[0](x), torch.zeros_like(x))  # nothing carries it


def test_pre_activation_units_have_no_activation_after_the_addition():
    from classicnets.blocks import BasicBlock
    unit = create("preact_resnet20").conv2[0]
    assert isinstance(unit, BasicBlock) and unit.preact
    x = -torch.ones(1, 16, 8, 8)
    assert (unit.eval()(x) < 0).any()  # a post-activation unit would end with ReLU


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="registered twice"):
        @register_model(description="", paper="", year=2000, input_shape=(1, 8, 8))
        def lenet():  # noqa: F811  (same name as the registered one)
            return None


def test_create_drops_none_and_rejects_unknown_options():
    assert create("lenet", width=None).features[0].out_channels == 32
    with pytest.raises(UserError, match="no option 'depth'.*width"):
        create("lenet", depth=3)


@pytest.mark.parametrize("call,match", [
    (lambda: __import__("classicnets.zoo.resnet", fromlist=["x"]).resnet(42), r"depth 42 .* \[18, 34, 50, 101, 152\]"),
    (lambda: __import__("classicnets.zoo.resnet", fromlist=["x"]).cifar_resnet(21), "6n\\+2"),
    (lambda: create("densenet_bc", depth=99), "6n\\+4"),
    (lambda: create("vgg16", input_size=16), "at least 32x32"),
])
def test_unknown_architecture_options_list_the_valid_ones(call, match):
    with pytest.raises(UserError, match=match):
        call()


def test_unknown_model_suggests_close_names():
    with pytest.raises(UserError, match="did you mean 'lenet'"):
        create("lenett")


def test_list_models_filters_by_pattern():
    assert list_models("lenet*") == ["lenet", "lenet5"]
    assert list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert list_models("nothing*") == []


def test_parameter_count_is_cached_and_leaves_the_random_state_alone():
    state = torch.get_rng_state()
    parameter_count.cache_clear()
    assert parameter_count("vgg16") == 138_357_544  # no reference declared: computed on the meta device
    assert parameter_count("vgg16") == 138_357_544 and parameter_count.cache_info().hits == 1
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(UserError, match="unknown model 'vgg61'; did you mean"):
        parameter_count("vgg61")


def test_seed_gives_the_same_weights_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = create("lenet", seed=3), create("lenet", seed=3), create("lenet", seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    torch.manual_seed(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), create("lenet").parameters()))
    with pytest.raises(UserError, match="seed must be a whole number"):
        create("lenet", seed=-1)


@pytest.mark.parametrize("name,option,value", [
    ("lenet", "width", -4), ("lenet", "num_classes", 0), ("lenet", "width", 2.5), ("lenet", "input_size", [8, 8, 8]),
    ("vgg16", "num_classes", -3), ("mobilenet", "alpha", -1.0), ("mlp", "layers", -1), ("imdb_lstm", "units", 0),
])
def test_impossible_sizes_are_refused_naming_the_option(name, option, value):
    assert option in model_info(name).arguments()
    with torch.device("meta"), pytest.raises(UserError, match=f"option '{option}' of model '{name}' must be"):
        create(name, **{option: value})


def test_zero_layers_is_a_model_without_hidden_layers():
    assert len(create("mlp", layers=0)) == 2  # Flatten, Linear: the course's softmax regression


def test_whatever_a_builder_raises_on_options_becomes_one_sentence(monkeypatch):
    def boom(size: float = 1.0):
        raise RuntimeError("Trying to create tensor with negative dimension -4: [-4, 1]\nmore detail")
    monkeypatch.setitem(registry._REGISTRY, "boom", registry.ModelInfo("boom", boom, "test", "", "", 2000, (1,)))
    with pytest.raises(UserError, match=r"^cannot build 'boom' with \{'size': 2.0\}: Trying .* \[-4, 1\]\.$"):
        create("boom", size=2.0)
    with pytest.raises(RuntimeError):  # defaults that fail are a bug: its traceback stays
        create("boom")


def test_private_builder_values_are_not_options():
    assert "_d" not in model_info("resnet18").arguments()
    with pytest.raises(UserError, match="no option '_d'; its options are: num_classes, in_channels.$"):
        create("resnet18", _d=34)


def test_a_mobilenet_too_thin_for_one_channel_is_refused():
    with torch.device("meta"), pytest.raises(UserError, match="alpha must be at least 1/32"):
        create("mobilenet", alpha=0.001)
