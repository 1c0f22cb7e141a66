"""Losses, the L2-equals-weight-decay identity, determinism and divergence of the training loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from mlpstudy.config import hparam_defaults
from mlpstudy.datasets import make_xor
from mlpstudy.models import build_mlp
from mlpstudy.objective import criterion, l2_penalty
from mlpstudy.training import Diverged, train_seed

pytestmark = pytest.mark.unit


def hp(**changes):
    return {**hparam_defaults(), **changes}


def random_data(n_train=96, n_test=32, features=20, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"train_x": torch.randint(0, 256, (n_train, features), generator=g, dtype=torch.uint8),
            "train_y": torch.randint(0, classes, (n_train,), generator=g),
            "test_x": torch.randint(0, 256, (n_test, features), generator=g, dtype=torch.uint8),
            "test_y": torch.randint(0, classes, (n_test,), generator=g),
            "scale": 1 / 255, "classes": classes}


def test_kl_div_without_smoothing_equals_cross_entropy():
    logits, y = torch.randn(16, 10), torch.randint(0, 10, (16,))
    kl = criterion(hp(loss="kl_div", smoothing=0.0), 10)(logits, y)
    assert torch.allclose(kl, F.cross_entropy(logits, y), atol=1e-6)


def test_kl_div_with_smoothing_is_cross_entropy_to_smoothed_targets_minus_their_entropy():
    logits, y, s = torch.randn(16, 10), torch.randint(0, 10, (16,)), 0.1
    kl = criterion(hp(loss="kl_div", smoothing=s), 10)(logits, y)
    target = F.one_hot(y, 10) * (1 - s) + s / 10
    expected = (-(target * F.log_softmax(logits, 1)).sum(1) + (target * target.log()).sum(1)).mean()
    assert torch.allclose(kl, expected, atol=1e-6)
    assert not torch.allclose(kl, F.cross_entropy(logits, y), atol=1e-3)


def test_explicit_l2_takes_the_same_steps_as_weight_decay():
    # (l2/2)*sum(w^2) has gradient l2*w, which is what SGD(weight_decay=l2) adds,
    # so both optimisers must end at the same weights after N steps.
    setting = hp(hidden=[16], l2=0.01)
    torch.manual_seed(0)
    a, b, plain = (build_mlp(setting, 20, 3) for _ in range(3))
    b.load_state_dict(a.state_dict())
    plain.load_state_dict(a.state_dict())
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, weight_decay=0.01)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.1)
    for step in range(25):
        x, y = torch.randn(8, 20), torch.randint(0, 3, (8,))
        opt_a.zero_grad(); (F.cross_entropy(a(x), y) + l2_penalty(a.parameters(), 0.01)).backward(); opt_a.step()
        opt_b.zero_grad(); F.cross_entropy(b(x), y).backward(); opt_b.step()
        opt_plain.zero_grad(); F.cross_entropy(plain(x), y).backward(); opt_plain.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
    # and the penalty is not a no-op: the same steps without it end elsewhere
    assert not torch.allclose(next(a.parameters()), next(plain.parameters()), atol=1e-6)


def test_training_records_every_evaluation_and_every_step():
    result = train_seed(hp(hidden=[8], batch_size=10, eval_every=4), random_data(), 0, torch.device("cpu"),
                   log=lambda _: None)
    steps = math.ceil(96 / 10)
    batch_steps = [r[0] for r in result.rows if r[2] == "batch"]
    eval_steps = sorted({r[0] for r in result.rows if r[2] == "test"})
    assert batch_steps == list(range(1, steps + 1))
    assert eval_steps == [0, 4, 8, steps]
    assert result.steps == steps and result.status == "ok"
    assert set(result.final) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}


def test_same_seed_same_curves_other_seed_other_curves():
    run = lambda seed: train_seed(hp(hidden=[8], batch_size=16, dropout=0.2), random_data(), seed,
                             torch.device("cpu"), log=lambda _: None).rows
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_xor_is_solved_by_its_configured_ablation():
    import yaml
    from conftest import REPO
    from mlpstudy.config import validate
    from mlpstudy.plan import hparams
    config = validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    for seed in range(5):
        result = train_seed(hparams(config, "xor", "xor"), make_xor(repeats=1, jitter=0.0), seed, torch.device("cpu"), log=lambda _: None)
        assert result.final["train_accuracy"] == 1.0, f"seed {seed} did not solve XOR"


def test_divergence_is_recorded_or_fails_as_configured():
    setting = hp(hidden=[32], activation="maxout", lr=1e3, momentum=0.9, batch_size=8, eval_every=2)
    result = train_seed(setting, random_data(), 0, torch.device("cpu"), log=lambda _: None)
    assert result.status == "diverged" and result.diverged_at_step is not None
    assert result.steps < math.ceil(96 / 8)  # stopped early
    with pytest.raises(Diverged, match="diverged"):
        train_seed(setting, random_data(), 0, torch.device("cpu"), on_divergence="fail", log=lambda _: None)


def test_an_unreadable_checkpoint_is_ignored_and_the_run_starts_over(tmp_path):
    checkpoint = tmp_path / "seed0.pt"
    checkpoint.write_bytes(b"\x80\x02 half a checkpoint")
    lines = []
    setting = hp(hidden=[8], batch_size=16, epochs=2)
    result = train_seed(setting, random_data(), 0, torch.device("cpu"), checkpoint=checkpoint,
                   log=lines.append)
    fresh = train_seed(setting, random_data(), 0, torch.device("cpu"), log=lambda _: None)
    assert any("ignoring unreadable checkpoint" in line for line in lines)
    assert result.resumed_from_step == 0 and result.rows == fresh.rows
