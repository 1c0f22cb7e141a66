"""The XOR decision-boundary figure, also when there is no model to draw."""
import pytest
import torch

from mlpstudy.config import hparam_defaults
from mlpstudy.datasets import make_xor
from mlpstudy.figures import save, xor_boundary_figure
from mlpstudy.models import build_mlp

pytestmark = pytest.mark.unit


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in (ax.title,)] + [fig._suptitle.get_text()]


def test_every_run_diverged_still_draws_the_figure_with_its_message(tmp_path):
    data = make_xor(repeats=1, jitter=0.0)
    fig = xor_boundary_figure([], data["train_x"], data["train_y"], "XOR: every run diverged")
    assert any("every run diverged" in t for t in texts(fig))
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 2  # the points of both classes
    save(fig, tmp_path / "xor.png", tmp_path / "xor.svg")
    assert (tmp_path / "xor.png").stat().st_size > 1000 and (tmp_path / "xor.svg").exists()


def test_one_panel_per_model_with_its_seed():
    data = make_xor(repeats=1, jitter=0.0)
    torch.manual_seed(0)
    models = [(s, build_mlp({**hparam_defaults(), "hidden": [4]}, 2, 2)) for s in (3, 8)]
    fig = xor_boundary_figure(models, data["train_x"], data["train_y"], "XOR")
    assert ["seed 3", "seed 8"] == [ax.get_title() for ax in fig.axes if ax.get_title()]
