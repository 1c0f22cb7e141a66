"""The study's cost: matmul FLOPs counted from the layer sizes (mlpstudy.flops, plan), the
plan line's estimate and range, and the efficiency from the runs' own records (cost)."""
import pytest

from conftest import write_tiny_idx_dataset
from mlpstudy import cost, flops, plan
from mlpstudy.config import validate
from mlpstudy.training import RunResult

pytestmark = pytest.mark.unit

BASE = {"hidden": [256], "activation": "relu", "maxout_k": 2, "batch_size": 64, "epochs": 1,
        "max_steps": None, "eval_every": 20}


def test_a_base_run_on_mnist_is_the_documented_1_415_tflop():
    # One epoch of 60,000 digits at batch 64 is 938 steps, evaluated at step 0, every 20th
    # step and the last: 48 evaluations of 70,000 digits. Per sample, the forward pass and the
    # weight gradients of both layers, and the input gradient of the second.
    macs = 784 * 256 + 256 * 10
    expected = 60000 * (4 * macs + 2 * 256 * 10) + 48 * 70000 * 2 * macs
    steps = flops.planned_steps(BASE, 60000)
    assert steps == 938 and flops.evaluations(BASE, steps) == 48
    assert flops.run_flops(BASE, 60000, 10000, steps, 48) == expected == 1_415_024_640_000


def test_maxout_counts_its_own_linear_and_the_last_batch_is_smaller():
    maxout = {**BASE, "activation": "maxout"}
    assert flops.linear_shapes(maxout, 784, 10) == [(784, 256), (256, 512), (256, 10)]
    # 100 rows at batch 64: the epoch's second step has 36 rows.
    one, two = (flops.run_flops(BASE, 100, 0, s, 0) for s in (1, 2))
    assert two - one == pytest.approx(one * 36 / 64)


def test_a_resumed_run_counts_only_what_its_job_computed():
    rows = [(s, 0, "test", "accuracy", 0.5) for s in (0, 20, 40, 60)]
    fresh = flops.flops_done(BASE, rows, 60, 0, 4000, 1000, 784, 10)
    assert fresh == flops.run_flops(BASE, 4000, 1000, 60, 4)
    resumed = flops.flops_done(BASE, rows, 60, 40, 4000, 1000, 784, 10)
    # Steps 41-60 and the one evaluation after the checkpoint (step 60).
    per_step = flops.run_flops(BASE, 4000, 1000, 1, 0)
    per_eval = flops.run_flops(BASE, 4000, 1000, 0, 1)
    assert resumed == pytest.approx(20 * per_step + per_eval)


@pytest.mark.parametrize("batched", [False, True])
def test_each_run_gets_its_flops_and_the_rate_of_its_own_training_time(batched):
    """A pack of two seeds, the second resumed at step 40: each run's FLOPs are its own; its
    rate is over its own seconds, or, trained as one batched model, the pack's over the
    pack's seconds (each run records the pack's time)."""
    rows = [(s, 0, "test", "accuracy", 0.5) for s in (0, 20, 40, 60)]
    seconds = (3.0, 3.0) if batched else (2.0, 4.0)
    results = [RunResult(rows=rows, steps=60, seconds=seconds[0]),
               RunResult(rows=rows, steps=60, seconds=seconds[1], resumed_from_step=40)]
    sizes = {"n_train": 4000, "n_test": 1000, "features": 784, "classes": 10}
    pack = flops.record_flops(results, BASE, batched, **sizes)
    own = [flops.flops_done(BASE, rows, 60, start, **sizes) for start in (0, 40)]
    assert [r.flop for r in results] == own and pack == sum(own) and own[1] < own[0]
    rates = [pack / 3.0] * 2 if batched else [own[0] / 2.0, own[1] / 4.0]
    assert [r.flop_rate for r in results] == pytest.approx(rates)


def test_a_jobs_flops_are_its_seeds_runs_on_its_datasets_rows(tmp_path):
    data = write_tiny_idx_dataset(tmp_path / "tiny")  # 256 training, 64 test rows
    config = validate({"dataset": "tiny", "custom_datasets": {"tiny": str(data)},
                       "seeds": [0, 1, 2], "ablations": {"base": {"description": "b"}}})
    assert plan.dataset_rows(config, "tiny") == (256, 64)
    hp = plan.hparams(config, "base", "tiny")
    steps = flops.planned_steps(hp, 256)
    one = flops.run_flops(hp, 256, 64, steps, flops.evaluations(hp, steps))
    assert plan.job_flops(config, ("tiny", "base", "seeds0-2")) == 3 * one
    # A dataset's own protocol counts: mnist-5k's default runs 938 steps, not one epoch's 63.
    config = validate({"dataset": "mnist-5k", "dataset_protocol": {"mnist-5k": {"max_steps": 938,
                                                                                 "epochs": 15}}})
    hp = plan.hparams(config, "base", "mnist-5k")
    assert flops.planned_steps(hp, 4000) == 938
    one = flops.run_flops(hp, 4000, 1000, 938, flops.evaluations(hp, 938))
    assert plan.job_flops(config, ("mnist-5k", "base", "seeds0-4")) == pytest.approx(5 * one)


def test_every_round_extends_the_ablations_of_claims_that_can_need_seeds():
    config = validate({"dataset": "mnist-5k", "adaptive_seeds": {"max": 10, "step": 5},
                       "ablations": {"base": {"description": ""}, "gelu": {"activation": "gelu"},
                                     "wide": {"hidden": [512]}},
                       "claims": [{"text": "g", "ablation": "gelu", "reference": "base",
                                   "metric": "stable_accuracy", "expect": "greater"},
                                  {"text": "p", "ablation": "wide", "reference": "base",
                                   "metric": "param_count", "expect": "greater"}]})
    most = plan.train_jobs(config, plan.every_round(config))
    first = plan.train_jobs(config)
    assert len(first) == 3
    assert sorted(set(most) - set(first)) == [("mnist-5k", "base", "seeds5-9"),
                                              ("mnist-5k", "gelu", "seeds5-9")]


def test_the_estimate_spreads_jobs_over_the_cores_but_waits_for_the_longest():
    rate = 1e10
    even = cost.estimate_seconds([1e11] * 4, 0, rate, 2)
    assert even == pytest.approx(2 * (cost.TRAIN_JOB_S + 10))
    lopsided = cost.estimate_seconds([1e12, 1e9], 2, rate, 8)
    assert lopsided == pytest.approx(cost.TRAIN_JOB_S + 100 + 2 * cost.OTHER_JOB_S)


def test_the_plan_line_gives_runs_flops_time_and_the_adaptive_range():
    line = cost.plan_line(110, 23, 2.5e12, 90, 5e10, "a probe", 2, most=(200, 4e12, 100))
    assert "110 training runs in 23 jobs" in line and "2.50 TFLOP" in line
    assert "about 90 s on 2 core(s)" in line and "50.0 GFLOP/s" in line
    assert "no claim needs a second round" in line and "up to 200 runs" in line
    assert "about 100 s if every round runs" in line


def test_efficiency_counts_a_batched_packs_time_once():
    # A pack of two seeds trained batched in 10 s: each run's rate is the pack's, 2e9 FLOP/s.
    batched = [{"flop": 1e10, "flop_rate": 2e9, "probe_flop_rate": 4e9}] * 2
    alone = [{"flop": 3e10, "flop_rate": 1e9, "probe_flop_rate": 2e9}]
    eff = cost.efficiency(batched + alone)
    assert eff["seconds"] == pytest.approx(10 + 30)
    assert eff["achieved"] == pytest.approx(5e10 / 40)
    assert eff["probe"] == pytest.approx((10 * 4e9 + 30 * 2e9) / 40)
    assert eff["ratio"] == pytest.approx(eff["achieved"] / eff["probe"])
    assert cost.efficiency([{"flop": None, "flop_rate": None, "probe_flop_rate": 1.0}]) is None


def test_earlier_runs_give_their_rate(tmp_path):
    import json
    for i, (flop, rate) in enumerate([(1e10, 1e9), (3e10, 3e9)]):
        path = tmp_path / "d" / "a" / f"seeds{i}" / f"seed{i}" / "run.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"flop": flop, "flop_rate": rate}))
    assert cost.earlier_rate(tmp_path) == pytest.approx(4e10 / 20)
    assert cost.earlier_rate(tmp_path / "none") is None


def test_the_probe_measures_a_rate_and_what_it_cost():
    probe = flops.matmul_probe("cpu", seconds=0.005)
    assert probe["flop_rate"] > 1e8 and 0 < probe["seconds"] < 5


def test_without_torch_the_plan_line_gives_no_time(tmp_path):
    # A Python that cannot import the package (here: run from an empty directory) has no rate.
    assert cost.probed_rate(tmp_path) is None
    line = cost.plan_line(10, 2, 1e12, None, None, "no rate", 2, most=(20, 2e12, None))
    assert "time unknown on 2 core(s)" in line and "time unknown if every round runs" in line
