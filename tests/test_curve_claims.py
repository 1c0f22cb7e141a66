"""Claim metrics read from the curves, on synthetic curves whose answers are known:
accuracy at a step, steps to an accuracy ("never" is a value), stable accuracy and its
spread over the last k evaluations, steps until stable, the fraction of diverged seeds;
and claims checked per dataset."""
import math

import pandas as pd
import pytest

from mlpstudy.aggregate import load_runs
from mlpstudy.claims import check_claim, check_claims, curve_value
from mlpstudy.stats import proportion, proportion_difference
from synthetic_runs import write_run

pytestmark = pytest.mark.unit

RISE = {0: 0.10, 10: 0.50, 20: 0.80, 30: 0.90}


def curve(points: dict) -> pd.DataFrame:
    return pd.DataFrame({"step": list(points), "value": list(points.values())})


def value(points, **claim):
    return curve_value(curve(points), claim)


def test_accuracy_at_a_step_is_the_last_evaluation_at_or_before_it():
    assert value(RISE, metric="accuracy_at_step", step=25) == pytest.approx(80.0)
    assert value(RISE, metric="accuracy_at_step", step=30) == pytest.approx(90.0)
    assert value(RISE, metric="accuracy_at_step", step=0) == pytest.approx(10.0)
    # A run that stopped before the step has no value there (not its last value).
    assert math.isnan(value(RISE, metric="accuracy_at_step", step=40))


def test_steps_to_an_accuracy_and_never_reached_as_a_value():
    assert value(RISE, metric="steps_to_accuracy", threshold=85) == 30
    assert value(RISE, metric="steps_to_accuracy", threshold=80) == 20  # reaching counts
    assert value(RISE, metric="steps_to_accuracy", threshold=95) == math.inf
    # The order of the rows does not matter.
    shuffled = dict(reversed(list(RISE.items())))
    assert value(shuffled, metric="steps_to_accuracy", threshold=45) == 10


def test_stable_accuracy_and_stability_over_the_last_k_evaluations():
    assert value(RISE, metric="stable_accuracy", last_k=2) == pytest.approx(85.0)
    assert value(RISE, metric="stability", last_k=2) == pytest.approx(math.sqrt(50))
    # Fewer evaluations than k: all of them except the untrained model at step 0.
    assert value(RISE, metric="stable_accuracy", last_k=10) == pytest.approx(220 / 3)
    assert math.isnan(value(RISE, metric="stability", last_k=1))  # one value: no spread


def test_steps_until_stable():
    settles = {0: 0.10, 10: 0.50, 20: 0.94, 30: 0.96, 40: 0.95, 50: 0.95}
    # stable accuracy (last 3) = 95.33; step 20 is 1.33 off, from step 30 on all within 1
    assert value(settles, metric="steps_to_stable", last_k=3, within=1.0) == 30
    assert value(settles, metric="steps_to_stable", last_k=3, within=2.0) == 20
    # Off again at the very end: never stable.
    assert value({**settles, 60: 0.90}, metric="steps_to_stable", last_k=3,
                 within=1.0) == math.inf


def study(tmp_path, runs, dataset="tiny", diverged=()):
    """runs: ablation -> {seed: curve}; diverged: (ablation, seed) runs that diverged."""
    paths = [write_run(tmp_path, dataset, a, s, 0.0, 100, curve=c)
             for a, seeds in runs.items() for s, c in seeds.items()]
    paths += [write_run(tmp_path, dataset, a, s, 0.1, 100, status="diverged",
                        curve={0: 0.1, 10: 0.3, 20: 0.5, 30: 0.6})
              for a, s in diverged]
    return load_runs(paths)


def reaching(step, top=0.95, last=60):
    """Rises to 0.9 exactly at `step` (None: never gets to 0.9), then levels at `top`."""
    points = {}
    for s in range(0, last + 1, 10):
        if step is None:
            points[s] = min(0.85, 0.1 + s / 100)
        else:
            points[s] = 0.1 + 0.8 * s / step if s < step else (0.9 if s == step else top)
    return points


def claim(**kw):
    return {"text": "t", "reference": None, "size": 0, "tolerance": 0, **kw}


def test_a_slower_ablation_with_a_seed_that_never_gets_there(tmp_path):
    metrics, final = study(tmp_path, {
        "base": {s: reaching(20) for s in range(4)},
        "slow": {0: reaching(40), 1: reaching(40), 2: reaching(50), 3: reaching(None)},
    })
    row = check_claim(claim(ablation="slow", reference="base", metric="steps_to_accuracy",
                            threshold=90, expect="greater"), final, metrics)
    # never -> the last step (60) for the measured value: differences 20, 20, 30, 40
    assert row["difference"] == pytest.approx(27.5)
    assert row["ci_high"] == math.inf and row["ci_low"] > 0
    assert row["verdict"] == "supported"
    assert "slow: never on 1 of 4 seed(s)" in row["note"]
    # Turned around, base is not slower: the interval lies below 0 all the way to -inf.
    back = check_claim(claim(ablation="base", reference="slow", metric="steps_to_accuracy",
                             threshold=90, expect="greater"), final, metrics)
    assert back["ci_low"] == -math.inf and back["ci_high"] < 0
    assert back["verdict"] == "contradicted"


def test_never_reached_on_every_seed_is_a_value_not_an_error(tmp_path):
    metrics, final = study(tmp_path, {"base": {s: reaching(None) for s in range(3)},
                                      "other": {s: reaching(None) for s in range(3)}})
    alone = check_claim(claim(ablation="base", metric="steps_to_accuracy", threshold=90,
                              expect="greater", size=50), final, metrics)
    # It did not get there within its 60 steps: "more than 50 steps" is supported.
    assert alone["verdict"] == "supported" and alone["ci_low"] == 60
    assert alone["ci_high"] == math.inf
    both = check_claim(claim(ablation="base", reference="other", metric="steps_to_accuracy",
                             threshold=90, expect="greater"), final, metrics)
    assert both["verdict"] == "inconclusive"
    assert (both["ci_low"], both["ci_high"]) == (-math.inf, math.inf)


def test_stable_accuracy_claims_are_paired_by_seed(tmp_path):
    metrics, final = study(tmp_path, {
        "base": {s: reaching(20, top=0.95) for s in range(3)},
        "better": {s: reaching(20, top=0.97) for s in range(3)},
    })
    row = check_claim(claim(ablation="better", reference="base", metric="stable_accuracy",
                            last_k=3, expect="about", size=2, tolerance=0.5), final, metrics)
    assert row["difference"] == pytest.approx(2.0) and row["verdict"] == "supported"
    assert "paired" in row["method"]
    assert "levelled" not in row["note"]  # the last 3 of 6 evaluations: the second half
    # A window reaching back into the first half of the runs is flagged.
    wide = check_claim(claim(ablation="better", reference="base", metric="stable_accuracy",
                             last_k=5, expect="greater"), final, metrics)
    assert "the last 5 evaluations reach back to step 20 of 60: the curves may not have " \
           "levelled out" in wide["note"]
    spread = check_claim(claim(ablation="base", metric="stability", last_k=3, expect="about",
                               tolerance=0.01), final, metrics)
    assert spread["difference"] == pytest.approx(0.0) and spread["verdict"] == "supported"


def test_all_seeds_diverged(tmp_path):
    metrics, final = study(tmp_path, {"base": {s: reaching(20) for s in range(3)}},
                           diverged=[("bad", s) for s in range(3)])
    fraction = check_claim(claim(ablation="bad", reference="base", metric="diverged_fraction",
                                 expect="greater"), final, metrics)
    assert fraction["difference"] == 1.0 and fraction["verdict"] == "supported"
    assert fraction["ablation_mean"] == 1.0 and fraction["reference_mean"] == 0.0
    assert "3/3 diverged vs 0/3 diverged" in fraction["note"]
    assert "Newcombe" in fraction["method"]
    # 0 of 3 seeds diverged: Wilson's interval is [0, 0.56], so with 3 seeds "at most half
    # diverge" is not yet shown, "at most 60%" is.
    half = check_claim(claim(ablation="base", metric="diverged_fraction", expect="at_most",
                             size=0.5), final, metrics)
    assert half["verdict"] == "inconclusive"
    assert (half["ci_low"], half["ci_high"]) == pytest.approx((0.0, 0.5615), abs=1e-4)
    most = check_claim(claim(ablation="base", metric="diverged_fraction", expect="at_most",
                             size=0.6), final, metrics)
    assert most["verdict"] == "supported"
    stable = check_claim(claim(ablation="bad", reference="base", metric="stable_accuracy",
                               expect="less"), final, metrics)
    assert stable["verdict"] == "no data" and "3 diverged run(s) of bad" in stable["note"]


def test_wilson_and_newcombe_intervals_known_values():
    # Newcombe (1998), Table II, example (a): 56/70 - 48/80: [0.0524, 0.3339].
    est = proportion_difference(56, 70, 48, 80)
    assert (est.ci_low, est.ci_high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    low, high = proportion(0, 10).ci_low, proportion(0, 10).ci_high
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)


def test_claims_are_checked_per_dataset_with_a_dataset_column(tmp_path):
    paths_a = study(tmp_path / "a", {"base": {s: reaching(20) for s in range(3)},
                                     "slow": {s: reaching(40) for s in range(3)}}, "one")
    paths_b = study(tmp_path / "b", {"base": {s: reaching(20) for s in range(3)},
                                     "slow": {s: reaching(20) for s in range(3)}}, "two")
    metrics = pd.concat([paths_a[0], paths_b[0]])
    final = pd.concat([paths_a[1], paths_b[1]])
    rows = check_claims([claim(text="slow is slower", ablation="slow", reference="base",
                               metric="steps_to_accuracy", expect="greater",
                               threshold={"one": 90, "two": 90})], final, metrics)
    assert list(rows["dataset"]) == ["one", "two"]
    assert list(rows["verdict"]) == ["supported", "contradicted"]
    only_two = check_claims([claim(text="x", ablation="slow", reference="base",
                                   metric="stable_accuracy", expect="about", tolerance=0.1,
                                   datasets=["two"])], final, metrics)
    assert list(only_two["dataset"]) == ["two"] and only_two["verdict"].iloc[0] == "supported"


def test_the_default_window_of_claims_is_the_tables_window():
    # A claim without last_k and the ablation_stats table's stable accuracy average the
    # same number of evaluations: the schema's default is claims.STABLE_LAST_K.
    from mlpstudy.claims import STABLE_LAST_K
    from mlpstudy.config import load_schema
    claim = load_schema()["properties"]["claims"]["items"]["properties"]["last_k"]
    assert claim["default"] == STABLE_LAST_K
    points = {step: step / 100 for step in range(0, 300, 20)}
    assert value(points, metric="stable_accuracy") == pytest.approx(
        100 * sum(sorted(points.values())[-STABLE_LAST_K:]) / STABLE_LAST_K)
