"""The claims check on synthetic runs: verdicts, diverged runs, missing ablations."""
import math

import pytest

from mlpstudy.aggregate import load_runs
from mlpstudy.claims import check_claim, check_claims
from synthetic_runs import write_study

pytestmark = pytest.mark.unit


@pytest.fixture
def final(tmp_path):
    return load_runs(write_study(tmp_path))[1]


def claim(**kw):
    return {"text": "t", "reference": None, "size": 0, "tolerance": 0, **kw}


def test_a_clear_gain_of_the_claimed_size_is_supported_with_a_paired_interval(final):
    # maxout is 2 points above base on every (non-diverged) seed: paired CI is exactly [2, 2].
    row = check_claim(claim(ablation="maxout", reference="base", metric="test_accuracy",
                            expect="about", size=2.0, tolerance=1.0), final)
    assert row["verdict"] == "supported"
    assert row["difference"] == pytest.approx(2.0) and row["ci_low"] == pytest.approx(2.0)
    assert "paired" in row["method"] and "1 diverged run(s) of maxout left out" in row["note"]
    assert row["n_ablation"] == 3 and row["ablation_mean"] == pytest.approx(93.0)


def test_wrong_direction_and_wrong_size_are_contradicted(final):
    worse = check_claim(claim(ablation="kl_div", reference="base", metric="test_accuracy",
                              expect="greater"), final)
    assert worse["verdict"] == "contradicted" and worse["difference"] == pytest.approx(-2.0)
    too_big = check_claim(claim(ablation="maxout", reference="base", metric="test_accuracy",
                                expect="about", size=5.0, tolerance=1.0), final)
    assert too_big["verdict"] == "contradicted"
    less = check_claim(claim(ablation="kl_div", reference="base", metric="test_accuracy",
                             expect="less"), final)
    assert less["verdict"] == "supported"


def test_a_one_sample_claim_without_reference(final):
    # gap is 1 point on every seed
    near_zero = check_claim(claim(ablation="base", metric="gap", expect="about", tolerance=1.5), final)
    assert near_zero["verdict"] == "supported" and near_zero["difference"] == pytest.approx(1.0)
    strict = check_claim(claim(ablation="base", metric="gap", expect="about", tolerance=0.5), final)
    assert strict["verdict"] == "contradicted"


def test_parameter_counts_are_checked_exactly(final):
    wrong = check_claim(claim(ablation="base", metric="param_count", expect="about",
                              size=199434), final)
    assert wrong["verdict"] == "contradicted" and wrong["difference"] == 203530
    right = check_claim(claim(ablation="base", metric="param_count", expect="about",
                              size=203530), final)
    assert right["verdict"] == "supported"
    extra = check_claim(claim(ablation="maxout", reference="base", metric="param_count",
                              expect="about", size=131584), final)
    assert extra["verdict"] == "supported" and extra["difference"] == 131584
    assert "exact" in extra["method"]


def test_a_claim_on_an_ablation_without_runs_is_marked_no_data(final):
    rows = check_claims([claim(ablation="hidden_2048", reference="base", metric="test_accuracy",
                               expect="greater"),
                         claim(ablation="base", metric="param_count", expect="about", size=1)],
                        final)
    assert list(rows["verdict"]) == ["no data", "contradicted"]
    assert "no runs of hidden_2048" in rows["note"].iloc[0]
    assert math.isnan(rows["difference"].iloc[0])


def test_an_ablation_whose_runs_all_diverged_is_no_data(tmp_path):
    final = load_runs(write_study(tmp_path, runs={"base": (10, {0: 0.9, 1: 0.91}),
                                                  "bad": (10, {})},
                                  diverged=(("bad", 0), ("bad", 1))))[1]
    row = check_claim(claim(ablation="bad", reference="base", metric="test_accuracy",
                            expect="less"), final)
    assert row["verdict"] == "no data" and "2 diverged run(s) of bad" in row["note"]


def test_one_seed_gives_inconclusive_not_an_error(tmp_path):
    final = load_runs(write_study(tmp_path, runs={"base": (10, {0: 0.9}), "b": (10, {0: 0.95})},
                                  diverged=()))[1]
    row = check_claim(claim(ablation="b", reference="base", metric="test_accuracy",
                            expect="greater"), final)
    assert row["verdict"] == "inconclusive" and "too few seeds" in row["note"]
