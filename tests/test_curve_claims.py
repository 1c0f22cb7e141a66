"""Claim metrics read from the curves, on synthetic curves whose answers are known:
accuracy at a step, steps to an accuracy ("never" is a value; a step count is known to one
evaluation interval), stable accuracy and its spread over the last k evaluations, steps until
stable, the fraction of diverged seeds; and claims checked per dataset."""
import math

import pandas as pd
import pytest

from mlpstudy.aggregate import load_runs
from mlpstudy.claims import claims_table, curve_value, expected_text, step_count
from mlpstudy.config import claim_defaults
from synthetic_runs import write_run

pytestmark = pytest.mark.unit

RISE = {0: 0.10, 10: 0.50, 20: 0.80, 30: 0.90}


def curve(points: dict) -> pd.DataFrame:
    return pd.DataFrame({"step": list(points), "value": list(points.values())})


def value(points, **claim):
    return curve_value(curve(points), {**claim_defaults(), **claim})


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


def test_threshold_and_within_may_be_given_per_dataset():
    # Each dataset's curves have their own levels and their own noise (config/README.md).
    settles = curve({0: 0.10, 10: 0.50, 20: 0.94, 30: 0.96, 40: 0.95, 50: 0.95})
    stable = {**claim_defaults(), "metric": "steps_to_stable", "last_k": 3, "expect": "greater",
              "within": {"one": 1.0, "two": 2.0}}
    assert (curve_value(settles, stable, "one"), curve_value(settles, stable, "two")) == (30, 20)
    assert "(within 2 pp of the mean of the last 3 evaluations)" in expected_text(stable, "two")
    reach = {**claim_defaults(), "metric": "steps_to_accuracy", "expect": "greater",
             "threshold": {"one": 85, "two": 45}}
    assert (curve_value(curve(RISE), reach, "one"), curve_value(curve(RISE), reach, "two")) == \
        (30, 10)
    assert " to 45%" in expected_text(reach, "two")


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
    return {**claim_defaults(), "text": "t", "datasets": ["tiny"], **kw}


def check(metrics, final, **kw):
    return claims_table([claim(**kw)], final, metrics).iloc[0]


def test_a_step_count_is_known_to_one_evaluation_interval():
    assert step_count(curve(RISE), claim(metric="steps_to_accuracy", threshold=85)) == (30, 10, False)
    assert step_count(curve(RISE), claim(metric="steps_to_accuracy", threshold=5)) == (0, 0, False)
    # never: the run's last step, exactly (the mean is over the steps within the run)
    assert step_count(curve(RISE), claim(metric="steps_to_accuracy", threshold=95)) == (30, 0, True)


def test_a_slower_ablation_with_a_seed_that_never_gets_there(tmp_path):
    metrics, final = study(tmp_path, {
        "base": {s: reaching(10) for s in range(6)},
        "slow": {0: reaching(40), 1: reaching(40), 2: reaching(50), 3: reaching(40),
                 4: reaching(50), 5: reaching(None)},
    })
    row = check(metrics, final, ablation="slow", reference="base", metric="steps_to_accuracy",
                threshold=90, expect="greater")
    # never -> the last step (60): differences 30, 30, 40, 30, 40, 50
    assert row["difference"] == pytest.approx(220 / 6)
    assert 0 < row["ci_low"] < row["difference"] < row["ci_high"] < math.inf
    assert row["verdict"] == "supported"
    assert "slow: never on 1 of 6 seed(s), counted as the run's last step" in row["note"]
    assert "known to within 20" in row["method"]
    back = check(metrics, final, ablation="base", reference="slow", metric="steps_to_accuracy",
                 threshold=90, expect="greater")
    assert back["ci_high"] < 0 and back["verdict"] == "contradicted"


def test_never_reached_on_every_seed_is_a_value_not_an_error(tmp_path):
    never = {s: reaching(None) for s in range(6)}
    metrics, final = study(tmp_path, {"base": never, "other": dict(never)})
    alone = check(metrics, final, ablation="base", metric="steps_to_accuracy", threshold=90,
                  expect="greater", size=50)
    # 60 steps on all 6 seeds, no spread: the sign-flip test's 2 * 2^-6 decides at 95%
    assert alone["verdict"] == "supported" and alone["difference"] == 60
    both = check(metrics, final, ablation="base", reference="other",
                 metric="steps_to_accuracy", threshold=90, expect="greater")
    assert both["verdict"] == "inconclusive" and both["difference"] == 0


def test_step_counts_that_tie_on_the_grid_decide_nothing(tmp_path):
    """Both ablations reach 90% at step 20 on every seed: the true steps may differ by up to
    an evaluation interval either way, so "slower" is neither shown nor refuted, and the row
    says no number of seeds would change that (it used to say contradicted, on [0, 0])."""
    metrics, final = study(tmp_path, {"base": {s: reaching(20) for s in range(6)},
                                      "same": {s: reaching(20) for s in range(6)}})
    row = check(metrics, final, ablation="same", reference="base", metric="steps_to_accuracy",
                threshold=90, expect="greater")
    assert row["verdict"] == "inconclusive" and row["difference"] == 0
    assert row["ci_low"] <= -10 and row["ci_high"] >= 10
    assert row["seeds_needed"] == math.inf and row["why_open"] == "undecidable at this resolution"


def test_stable_accuracy_claims_are_paired_by_seed(tmp_path):
    metrics, final = study(tmp_path, {
        "base": {s: reaching(20, top=0.95) for s in range(6)},
        "better": {s: reaching(20, top=0.97) for s in range(6)},
    })
    row = check(metrics, final, ablation="better", reference="base", metric="stable_accuracy",
                last_k=3, expect="about", size=2, tolerance=0.5)
    assert row["difference"] == pytest.approx(2.0) and row["verdict"] == "supported"
    assert "no spread" in row["method"]  # 2 points on every seed: the sign-flip test
    assert "levelled" not in row["note"]  # the last 3 of 6 evaluations: the second half
    # A window reaching back into the first half of the runs is flagged.
    wide = check(metrics, final, ablation="better", reference="base", metric="stable_accuracy",
                 last_k=5, expect="greater")
    assert "the last 5 evaluations reach back to step 20 of 60: the curves may not have " \
           "levelled out" in wide["note"]
    spread = check(metrics, final, ablation="base", metric="stability", last_k=3,
                   expect="about", tolerance=0.01)
    assert spread["difference"] == pytest.approx(0.0) and spread["verdict"] == "supported"


def test_all_seeds_diverged(tmp_path):
    metrics, final = study(tmp_path, {"base": {s: reaching(20) for s in range(3)}},
                           diverged=[("bad", s) for s in range(3)])
    fraction = check(metrics, final, ablation="bad", reference="base",
                     metric="diverged_fraction", expect="greater")
    # 3/3 against 0/3: the exact unconditional test's p is 2^-6 a side, at a common rate 1/2
    assert fraction["difference"] == 1.0 and fraction["verdict"] == "supported"
    assert fraction["p_value"] == pytest.approx(2 * 2 ** -6)
    assert fraction["ablation_mean"] == 1.0 and fraction["reference_mean"] == 0.0
    assert "3/3 diverged vs 0/3 diverged" in fraction["note"]
    assert "exact unconditional" in fraction["method"]
    # 0 of 3 seeds diverged: Clopper-Pearson's interval is [0, 0.708], so with 3 seeds "at
    # most half diverge" is not yet shown, "at most three quarters" is.
    half = check(metrics, final, ablation="base", metric="diverged_fraction",
                 expect="at_most", size=0.5)
    assert half["verdict"] == "inconclusive"
    assert (half["ci_low"], half["ci_high"]) == pytest.approx((0.0, 1 - 0.025 ** (1 / 3)),
                                                              abs=1e-4)
    most = check(metrics, final, ablation="base", metric="diverged_fraction", expect="at_most",
                 size=0.75)
    assert most["verdict"] == "supported"
    stable = check(metrics, final, ablation="bad", reference="base", metric="stable_accuracy",
                   expect="less")
    assert stable["verdict"] == "no data" and "3 diverged run(s) of bad" in stable["note"]


def test_claims_are_checked_per_dataset_with_a_dataset_column(tmp_path):
    seeds = range(6)
    paths_a = study(tmp_path / "a", {"base": {s: reaching(20) for s in seeds},
                                     "slow": {s: reaching(40) for s in seeds}}, "one")
    paths_b = study(tmp_path / "b", {"base": {s: reaching(20) for s in seeds},
                                     "slow": {s: reaching(20) for s in seeds}}, "two")
    metrics = pd.concat([paths_a[0], paths_b[0]])
    final = pd.concat([paths_a[1], paths_b[1]])
    slower = claim(text="slow is slower", ablation="slow", reference="base",
                   metric="steps_to_accuracy", expect="greater",
                   threshold={"one": 90, "two": 90}, datasets=["one", "two"])
    rows = claims_table([slower], final, metrics)
    assert list(rows["dataset"]) == ["one", "two"]
    # 20 steps slower on every seed of "one", tied on "two" (see above)
    assert list(rows["verdict"]) == ["supported", "inconclusive"]
    only_two = claims_table([claim(text="x", ablation="slow", reference="base",
                                   metric="stable_accuracy", expect="about", tolerance=0.1,
                                   datasets=["two"])], final, metrics)
    assert list(only_two["dataset"]) == ["two"] and only_two["verdict"].iloc[0] == "supported"


def test_the_forest_plot_draws_what_the_table_says(tmp_path):
    """Each row's interval within its panel's axis, an arrow where it is unbounded (ties in
    no-spread data at a level beyond what the seeds allow), and the verdict's colour."""
    from mlpstudy.figures import VERDICT_COLORS, claims_forest_figure

    metrics, final = study(tmp_path, {"base": {s: reaching(20) for s in range(3)},
                                      "same": {s: reaching(20) for s in range(3)},
                                      "slow": {s: reaching(40 + 10 * (s % 2)) for s in range(3)}})
    rows = claims_table([claim(text="tied", ablation="same", reference="base",
                               metric="stable_accuracy", expect="about", tolerance=0.1),
                         claim(text="slower", ablation="slow", reference="base",
                               metric="steps_to_accuracy", threshold=90, expect="greater")],
                        final, metrics)
    assert rows["ci_low"].iloc[0] == -math.inf  # 3 agreeing seeds: no interval at 97.5%
    figure = claims_forest_figure(rows, "tiny")
    for ax, row in zip(figure.axes, rows.itertuples()):
        low, high = ax.get_xlim()
        for end in (row.ci_low, row.ci_high, row.difference):
            assert not math.isfinite(end) or low <= end <= high
        markers = {line.get_marker() for line in ax.lines}
        assert ("<" in markers) == (row.ci_low == -math.inf)
        colours = {line.get_color() for line in ax.lines}
        assert VERDICT_COLORS[row.verdict] in colours
