"""A pack of seeds trains each seed as the run it is alone.

On the CPU a pack trains its seeds one after another (bitwise the single runs); on a
GPU it trains them as one batched model (mlpstudy.packed). Here the batched path runs
on the CPU, on the 5000 real MNIST digits, with every ablation of the default config.
"""
from __future__ import annotations

import pytest
import torch
import yaml

from conftest import REPO
from mlpstudy.config import validate
from mlpstudy.datasets import load_mnist_5k
from mlpstudy.packed import PackedMLP
from mlpstudy.plan import hparams
from mlpstudy.training import loop, to_device, train_pack, train_seed

pytestmark = pytest.mark.slow

CPU = torch.device("cpu")
SEEDS = [0, 1, 2]
quiet = lambda _: None  # noqa: E731

RAW_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
# Beside the study's ablations, a layer kind the packed path has no code of its own for.
RAW_CONFIG["ablations"]["layer_norm"] = {"layer_norm": True}
CONFIG = validate(RAW_CONFIG)
# The declared ablations, not the lr sweep's points: those are base and maxout at other
# learning rates, and at lr 0.5-1 maxout is chaotic (batch losses in the hundreds before
# it diverges), where the batched path's rounding differences grow without bound.
ABLATIONS = [a for a in RAW_CONFIG["ablations"] if CONFIG["ablations"][a].get("dataset") != "xor"]


@pytest.fixture(scope="module")
def mnist_5k():
    return load_mnist_5k()


def setting(ablation: str, **changes) -> dict:
    # 60 steps: all of an mnist-5k epoch but its last, short batch.
    return {**hparams(CONFIG, ablation, "mnist-5k"), "max_steps": 60, **changes}


def assert_same_curves(alone, packed, rel_loss=1e-4, abs_accuracy=0.003):
    """Same rows, losses within a relative 1e-4, accuracies within 0.3 points."""
    assert [r[:4] for r in packed.rows] == [r[:4] for r in alone.rows]
    for a, p in zip(alone.rows, packed.rows):
        if a[3] == "loss":
            assert p[4] == pytest.approx(a[4], rel=rel_loss, nan_ok=True), a
        else:
            assert abs(p[4] - a[4]) <= abs_accuracy, (a, p)
    assert (packed.status, packed.steps, packed.diverged_at_step) == \
        (alone.status, alone.steps, alone.diverged_at_step)


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_a_batched_pack_trains_each_seed_as_it_trains_alone(mnist_5k, ablation):
    hp = setting(ablation)
    alone = [train_seed(hp, mnist_5k, seed, CPU, log=quiet) for seed in SEEDS]
    packed = train_pack(hp, mnist_5k, SEEDS, CPU, batched=True, log=quiet)
    assert [r.param_count for r in packed] == [r.param_count for r in alone]
    # Maxout's max over pieces amplifies rounding: where two pieces nearly tie, rounding
    # picks the winner and so which weights learn. Measured: one maxout seed's batch loss
    # reaches a relative 1.1e-4 at step 57; every other row of every ablation stays < 1e-6.
    rel_loss = 2e-4 if hp["activation"] == "maxout" else 1e-4
    for a, p in zip(alone, packed):
        assert_same_curves(a, p, rel_loss=rel_loss)
    # and the seeds are different runs: own weights, batches (and masks)
    assert packed[0].rows != packed[1].rows


def test_on_the_cpu_a_pack_is_bitwise_its_seeds_alone_whatever_its_mates(mnist_5k):
    hp = setting("dropout", max_steps=25, eval_every=10)
    pack = train_pack(hp, mnist_5k, [3, 7], CPU, log=quiet)
    assert [r.rows for r in pack] == [train_seed(hp, mnist_5k, s, CPU, log=quiet).rows for s in (3, 7)]
    assert train_pack(hp, mnist_5k, [7], CPU, log=quiet)[0].rows == pack[1].rows


def test_in_a_batched_pack_a_seeds_curves_do_not_depend_on_its_mates(mnist_5k):
    hp = setting("batch_norm", max_steps=25, eval_every=10)
    with_mates = train_pack(hp, mnist_5k, [3, 7, 9], CPU, batched=True, log=quiet)[1]
    alone = train_pack(hp, mnist_5k, [7], CPU, batched=True, log=quiet)[0]
    assert_same_curves(alone, with_mates, rel_loss=1e-6, abs_accuracy=0)


def test_a_diverging_member_stops_alone_and_its_mates_train_on(mnist_5k):
    hp = setting("base", max_steps=30, eval_every=10)
    model = PackedMLP(hp, 784, 10, SEEDS, CPU)
    with torch.no_grad():
        model.params["1.weight"][1].fill_(1e30)  # member 1's logits overflow: loss inf
    results = loop(model, hp, to_device(mnist_5k, CPU), SEEDS, log=quiet)
    assert results[1].status == "diverged" and results[1].steps == 10
    assert results[1].diverged_at_step is not None and results[1].diverged_at_step <= 10
    assert max(r[0] for r in results[1].rows) == 10  # nothing recorded after it stopped
    for seed, result in zip(SEEDS[::2], results[::2]):
        assert result.status == "ok" and result.steps == 30
        assert_same_curves(train_seed(hp, mnist_5k, seed, CPU, log=quiet), result)


@pytest.mark.parametrize("batched", [False, True])
def test_a_killed_pack_resumes_from_its_checkpoints_to_the_same_curves(mnist_5k, tmp_path, batched):
    hp = setting("dropout", epochs=2, max_steps=None, eval_every=40, checkpoint_every=63)
    checkpoints = {"pack": tmp_path / "pack.pt", **{s: tmp_path / f"seed{s}.pt" for s in SEEDS}}
    whole = train_pack(hp, mnist_5k, SEEDS, CPU, batched=batched, log=quiet)

    class Killed(Exception):
        pass

    def die_in_the_second_epoch_of_the_last_seed(line):
        if line.startswith("epoch 1/2 done") and (batched or (tmp_path / "seed1.pt").exists()
                                                  and (tmp_path / "seed2.pt").exists()):
            raise Killed

    with pytest.raises(Killed):
        train_pack(hp, mnist_5k, SEEDS, CPU, batched=batched, checkpoints=checkpoints,
                   log=die_in_the_second_epoch_of_the_last_seed)
    lines = []
    resumed = train_pack(hp, mnist_5k, SEEDS, CPU, batched=batched, checkpoints=checkpoints,
                         log=lines.append)
    assert [r.rows for r in resumed] == [r.rows for r in whole]
    assert [predictions_of(r) for r in resumed] == [predictions_of(r) for r in whole]
    # the predictions kept are what each test evaluation's accuracy counted
    labels = mnist_5k["test_y"]
    for result in resumed:
        accuracy = {row[0]: row[4] for row in result.rows if row[2:4] == ("test", "accuracy")}
        assert [step for step, _ in result.predictions] == sorted(accuracy)
        for step, predicted in result.predictions:
            assert (predicted.long() == labels).double().mean().item() == accuracy[step]
    assert sum("resumed from checkpoint" in line for line in lines) == len(SEEDS)
    # finished seeds come back from their checkpoints, untrained: one epoch's log at most
    assert sum(line.startswith("epoch ") for line in lines) == 1


def test_on_divergence_fail_fails_the_pack_naming_the_seed(mnist_5k):
    from mlpstudy.training import Diverged
    hp = setting("maxout", lr=1e3, momentum=0.9, max_steps=20, eval_every=5)
    with pytest.raises(Diverged, match=r"seed 0: run diverged"):
        train_pack(hp, mnist_5k, SEEDS, CPU, batched=True, on_divergence="fail", log=quiet)


def predictions_of(result) -> list:
    return [(step, predicted.tolist()) for step, predicted in result.predictions]


def stop_after(steps: int):
    """should_stop for the loop: true after `steps` training steps (it is asked once a step)."""
    asked = iter(range(1, 10 ** 9))
    return lambda: next(asked) >= steps


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_a_run_stopped_mid_epoch_resumes_bit_for_bit(mnist_5k, tmp_path, ablation):
    """SIGTERM at step 37 saves that step; a kill after it loses only the steps since."""
    from mlpstudy.training import Interrupted
    hp = setting(ablation, checkpoint_every=25, eval_every=10)  # 63 steps an epoch
    whole = train_pack(hp, mnist_5k, [0], CPU, log=quiet)[0]
    checkpoints = {0: tmp_path / "seed0.pt"}
    with pytest.raises(Interrupted, match="stopped at step 37"):
        train_pack(hp, mnist_5k, [0], CPU, checkpoints=checkpoints, log=quiet,
                   should_stop=stop_after(37))
    lines = []
    resumed = train_pack(hp, mnist_5k, [0], CPU, checkpoints=checkpoints, log=lines.append)[0]
    assert resumed.resumed_from_step == 37 and "seed 0: resumed from checkpoint at step 37 " \
        "(epoch 0.59)" in lines
    assert resumed.rows == whole.rows and predictions_of(resumed) == predictions_of(whole)


@pytest.mark.parametrize("ablation", ["dropout", "batch_norm", "maxout"])
def test_a_batched_pack_stopped_mid_epoch_resumes_bit_for_bit(mnist_5k, tmp_path, ablation):
    from mlpstudy.training import Interrupted
    hp = setting(ablation, checkpoint_every=25, eval_every=10)
    whole = train_pack(hp, mnist_5k, SEEDS, CPU, batched=True, log=quiet)
    checkpoints = {"pack": tmp_path / "pack.pt"}
    with pytest.raises(Interrupted):
        train_pack(hp, mnist_5k, SEEDS, CPU, batched=True, checkpoints=checkpoints, log=quiet,
                   should_stop=stop_after(41))
    resumed = train_pack(hp, mnist_5k, SEEDS, CPU, batched=True, checkpoints=checkpoints, log=quiet)
    assert [r.resumed_from_step for r in resumed] == [41] * len(SEEDS)
    assert [r.rows for r in resumed] == [r.rows for r in whole]
    assert [predictions_of(r) for r in resumed] == [predictions_of(r) for r in whole]
