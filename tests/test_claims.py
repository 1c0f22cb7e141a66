"""claims.csv on synthetic runs: verdicts, pairing by seed, diverged and missing runs, ablations
equal run for run, parameter counts, and a dataset's claims tested as one family."""
import math

import numpy as np
import pytest

from mlpstudy.aggregate import load_runs
from mlpstudy.claims import claims_table
from mlpstudy.config import claim_defaults
from mlpstudy.sequential import ALPHA
from synthetic_runs import write_study

pytestmark = pytest.mark.unit

BASE = {0: 0.900, 1: 0.912, 2: 0.905, 3: 0.921, 4: 0.898, 5: 0.909}
# maxout: about 2 points above base on each seed, give or take 0.1 (seed 3 diverged)
RUNS = {"base": (203530, BASE),
        "maxout": (335114, {s: a + 0.02 + 0.001 * (-1) ** s for s, a in BASE.items() if s != 3}),
        "kl_div": (203530, {s: a - 0.02 + 0.0005 * s for s, a in BASE.items()}),
        "twin": (203530, dict(BASE))}


@pytest.fixture
def final(tmp_path):
    return load_runs(write_study(tmp_path, RUNS))[1]


def claim(**kw):
    return {**claim_defaults(), "text": kw.get("ablation", "t"), "datasets": ["tiny"], **kw}


def check(final, *claims):
    rows = claims_table(list(claims), final, None)
    return rows.iloc[0] if len(claims) == 1 else rows


def test_a_clear_gain_of_the_claimed_size_is_supported_paired_on_the_seeds_both_finished(final):
    row = check(final, claim(ablation="maxout", reference="base", metric="test_accuracy",
                             expect="about", size=2.0, tolerance=1.0))
    assert row["verdict"] == "supported"
    assert row["difference"] == pytest.approx(2.0, abs=0.1)
    assert 1.0 <= row["ci_low"] < 2.0 < row["ci_high"] <= 3.0
    assert "paired t over 5 seeds" in row["method"] and row["seeds"] == 5
    assert "1 diverged run(s) of maxout left out" in row["note"]
    assert "paired on the 5 seeds both finished (seed 3 on one side only)" in row["note"]
    assert row["n_ablation"] == 5 and row["n_reference"] == 6 and row["seeds_run"] == 6


def test_wrong_direction_and_wrong_size_are_contradicted(final):
    worse = check(final, claim(ablation="kl_div", reference="base", metric="test_accuracy",
                               expect="greater"))
    assert worse["verdict"] == "contradicted" and worse["difference"] == pytest.approx(-1.875)
    assert worse["ci_high"] < 0
    too_big = check(final, claim(ablation="maxout", reference="base", metric="test_accuracy",
                                 expect="about", size=5.0, tolerance=1.0))
    assert too_big["verdict"] == "contradicted"
    less = check(final, claim(ablation="kl_div", reference="base", metric="test_accuracy",
                              expect="less"))
    assert less["verdict"] == "supported"


def test_a_one_sample_claim_without_reference(final):
    # base's train accuracy is its test accuracy + 1 point on every seed: no spread, 6 seeds
    near = check(final, claim(ablation="base", metric="gap", expect="about", tolerance=1.5))
    assert near["verdict"] == "supported" and near["difference"] == pytest.approx(1.0)
    assert "no spread" in near["method"] and near["p_value"] == pytest.approx(2 * 2 ** -6)
    strict = check(final, claim(ablation="base", metric="gap", expect="about", tolerance=0.5))
    assert strict["verdict"] == "contradicted"


def test_two_ablations_equal_run_for_run_decide_only_as_far_as_their_seeds_can(final):
    """twin repeats base exactly: the differences are all 0. Six agreeing seeds give the
    sign-flip test's p = 2 * 2^-6 = 0.031: "about 0" is supported at 95%, not at 99%, and the
    row says why; t alone would have said p = 0."""
    row = check(final, claim(ablation="twin", reference="base", metric="test_accuracy",
                             expect="about", tolerance=0.1))
    assert row["verdict"] == "supported" and row["p_value"] == pytest.approx(2 * 2 ** -6)
    assert "equal run for run on all 6 seeds" in row["note"] and "sign-flip" in row["method"]
    # Beside a claim that stays open, the first Holm step is at 2.5%: not enough for 3.1%.
    both = check(final, claim(ablation="twin", reference="base", metric="test_accuracy",
                              expect="about", tolerance=0.1),
                 claim(ablation="maxout", reference="base", metric="test_accuracy",
                       expect="about", size=2.0, tolerance=0.01))
    assert list(both["verdict"]) == ["inconclusive", "inconclusive"]


def test_parameter_counts_are_checked_exactly_outside_the_family(final):
    wrong = check(final, claim(ablation="base", metric="param_count", expect="about",
                               size=199434))
    assert wrong["verdict"] == "contradicted" and wrong["difference"] == 203530
    assert wrong["family"] == "not tested: exact"
    extra = check(final, claim(ablation="maxout", reference="base", metric="param_count",
                               expect="about", size=131584))
    assert extra["verdict"] == "supported" and extra["difference"] == 131584
    assert "exact" in extra["method"]


def test_a_datasets_claims_are_one_family_under_holm(final):
    rows = check(final,
                 claim(ablation="maxout", reference="base", metric="test_accuracy",
                       expect="greater"),
                 claim(ablation="kl_div", reference="base", metric="test_accuracy",
                       expect="less"),
                 claim(ablation="base", metric="param_count", expect="about", size=1))
    tested = rows[rows["family"].str.startswith("Holm")]
    assert len(tested) == 2 and "2 tested claims" in tested["family"].iloc[0]
    assert sorted(tested["threshold"]) == pytest.approx([ALPHA / 2, ALPHA])
    assert (tested["p_adjusted"] <= ALPHA).all() and (tested["verdict"] == "supported").all()
    # each decided row's interval is at the level that decided it
    assert list(tested["ci_level"]) == pytest.approx(list(1 - tested["threshold"]))


def test_a_claim_on_an_ablation_without_runs_is_marked_no_data(final):
    rows = check(final, claim(ablation="hidden_2048", reference="base", metric="test_accuracy",
                              expect="greater"),
                 claim(ablation="base", metric="param_count", expect="about", size=1))
    assert list(rows["verdict"]) == ["no data", "contradicted"]
    assert "no runs of hidden_2048" in rows["note"].iloc[0]
    assert math.isnan(rows["difference"].iloc[0])


def test_an_ablation_whose_runs_all_diverged_is_no_data(tmp_path):
    final = load_runs(write_study(tmp_path, runs={"base": (10, {0: 0.9, 1: 0.91}),
                                                  "bad": (10, {})},
                                  diverged=(("bad", 0), ("bad", 1))))[1]
    row = check(final, claim(ablation="bad", reference="base", metric="test_accuracy",
                             expect="less"))
    assert row["verdict"] == "no data" and "2 diverged run(s) of bad" in row["note"]


def test_one_seed_gives_inconclusive_not_an_error(tmp_path):
    final = load_runs(write_study(tmp_path, runs={"base": (10, {0: 0.9}), "b": (10, {0: 0.95})},
                                  diverged=()))[1]
    row = check(final, claim(ablation="b", reference="base", metric="test_accuracy",
                             expect="greater"))
    assert row["verdict"] == "inconclusive" and "too few seeds" in row["note"]


def predictions_of(final, examples=1000, seed=0):
    """(dataset, ablation, seed) -> (steps, right) for every run: `examples` test examples at
    the evaluations 20, 40 and 60, the last one right on exactly the run's test accuracy,
    the easiest examples first (the same order for every run: some examples are hard)."""
    rng = np.random.default_rng(seed)
    easiest = rng.permutation(examples)
    right = {}
    for run in final[final["status"] == "ok"].itertuples():
        last = np.zeros(examples, dtype=bool)
        last[easiest[:round(run.test_accuracy * examples)]] = True
        earlier = rng.random((2, examples)) < run.test_accuracy
        right[run.dataset, run.ablation, int(run.seed)] = (np.array([20, 40, 60]),
                                                          np.vstack([earlier, last]))
    return right


def test_the_test_sets_sampling_widens_an_accuracys_interval(tmp_path):
    """The gap is 1 point on every seed: over the seeds alone it is known exactly (0 spread);
    over the 1,000 test examples too, its interval is about +-2 binomial errors of a 90%
    accuracy on 1,000 examples (0.95 pp) wide."""
    metrics, final = load_runs(write_study(tmp_path, RUNS))
    gap = claim(ablation="base", metric="gap", expect="about", tolerance=5.0)
    seeds_only = claims_table([gap], final, metrics).iloc[0]
    both = claims_table([gap], final, metrics, right=predictions_of(final)).iloc[0]
    assert seeds_only["uncertainty"] == "seeds" and "no spread" in seeds_only["method"]
    assert both["uncertainty"] == "seeds and 1,000 test examples"
    assert both["difference"] == pytest.approx(seeds_only["difference"])
    binomial = 100 * math.sqrt(0.9 * 0.1 / 1000)
    assert both["ci_high"] - both["ci_low"] > 2 * 1.96 * binomial
    assert both["verdict"] == "supported"


def test_runs_without_stored_predictions_fall_back_to_the_seeds(tmp_path):
    metrics, final = load_runs(write_study(tmp_path, RUNS))
    right = predictions_of(final)
    del right["tiny", "kl_div", 2]
    row = claims_table([claim(ablation="kl_div", reference="base", metric="test_accuracy",
                              expect="less")], final, metrics, right=right).iloc[0]
    assert row["uncertainty"] == "seeds"
    assert "no stored test predictions for kl_div seed 2: seeds only" in row["note"]
