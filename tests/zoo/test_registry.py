"""Registry-driven model tests: every registered model is built, run and counted."""
import pytest
import torch

from classicnets.errors import UserError
from classicnets.inspect import count_params, summarize
from classicnets.zoo import create, list_models, model_info, register_model

MODELS = list_models()


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_on_default_input(name):
    torch.manual_seed(0)
    info = model_info(name)
    model = create(name, num_classes=7)
    x = torch.randn(2, *info.input_shape)
    out = model(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", [n for n in MODELS if model_info(n).num_params])
def test_parameter_count_matches_reference(name):
    info = model_info(name)
    trainable, non_trainable = count_params(create(name))
    assert trainable + non_trainable == info.num_params, info.params_source
    assert summarize(create(name), info.input_shape).total_params == info.num_params


def test_lenet5_layer_counts_match_the_paper_layout():
    # C1 156, C3 2,416 (full connection table), C5 48,120, F6 10,164, output 850
    rows = summarize(create("lenet5"), (1, 32, 32)).rows
    assert [r.params for r in rows if r.params] == [156, 2416, 48120, 10164, 850]
    assert [r.output_shape for r in rows if r.kind == "Conv2d"] == [(1, 6, 28, 28), (1, 16, 10, 10)]


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="registered twice"):
        @register_model(description="", paper="", year=2000, input_shape=(1, 8, 8))
        def lenet():  # noqa: F811  (same name as the registered one)
            return None


def test_create_drops_none_and_rejects_unknown_options():
    assert create("lenet", width=None).features[0].out_channels == 32
    with pytest.raises(UserError, match="no option 'depth'.*width"):
        create("lenet", depth=3)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UserError, match="did you mean 'lenet'"):
        create("lenett")


def test_list_models_filters_by_pattern():
    assert list_models("lenet*") == ["lenet", "lenet5"]
    assert list_models("nothing*") == []
