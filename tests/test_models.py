"""Parameter counts of the report's configurations, and the forward pass of every variant."""
import pytest
import torch

from mlpstudy.models import build_mlp, count_parameters

pytestmark = pytest.mark.unit

BASE = {"hidden": [256], "activation": "relu", "maxout_k": 2, "dropout": 0.0, "batch_norm": False,
        "layer_norm": False}


def params_of(**changes) -> int:
    return count_parameters(build_mlp({**BASE, **changes}, 784, 10))


@pytest.mark.parametrize("hidden, expected", [
    ([12], 9_550), ([784], 623_290), ([2048], 1_628_170), ([512, 256], 535_818),
    ([256], 203_530),  # the report says 199,434, which assumes 768 inputs
])
def test_parameter_counts_match_the_report(hidden, expected):
    assert params_of(hidden=hidden) == expected


def test_report_base_count_assumes_768_inputs():
    assert count_parameters(build_mlp(BASE, 768, 10)) == 199_434


def test_maxout_adds_the_reports_131584_parameters():
    assert params_of(activation="maxout") - params_of() == (256 * 256 + 256) * 2 == 131_584


def test_maxout_takes_the_max_of_k_pieces():
    model = build_mlp({**BASE, "hidden": [3], "activation": "maxout", "maxout_k": 2}, 4, 2)
    maxout = model[2]
    x = torch.randn(5, 3)
    pieces = maxout.linear(x).view(5, 3, 2)
    assert torch.equal(maxout(x), pieces.max(dim=-1).values)


@pytest.mark.parametrize("changes", [
    {"activation": "gelu"}, {"activation": "maxout", "maxout_k": 3},
    {"dropout": 0.2}, {"batch_norm": True}, {"layer_norm": True}, {"hidden": []},
    {"hidden": [8, 8, 8]},
])
def test_every_variant_maps_images_to_logits(changes):
    model = build_mlp({**BASE, **changes}, 784, 10)
    assert model(torch.rand(7, 1, 28, 28)).shape == (7, 10)


def test_batch_norm_and_dropout_layers_are_where_the_report_puts_them():
    kinds = [type(m).__name__ for m in build_mlp({**BASE, "batch_norm": True, "dropout": 0.2}, 784, 10)]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "SeededDropout", "Linear"]


def test_layer_norm_sits_where_batch_norm_does_with_as_many_parameters():
    kinds = [type(m).__name__ for m in build_mlp({**BASE, "layer_norm": True}, 784, 10)]
    assert kinds == ["Flatten", "Linear", "LayerNorm", "ReLU", "Linear"]
    assert params_of(layer_norm=True) == params_of(batch_norm=True) == 204_042
