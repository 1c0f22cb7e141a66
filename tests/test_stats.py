"""Statistics with known answers: mean, std, t intervals, differences, verdict boundaries."""
import math

import pytest

from mlpstudy.stats import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, Band, describe, difference,
                            t_quantile, verdict, welch)

pytestmark = pytest.mark.unit


def test_t_quantiles_match_tables():
    # Student t 0.975 quantiles from any printed table.
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(1e9) == pytest.approx(1.95996, abs=1e-4)


def test_describe_gives_mean_sample_std_and_t_interval():
    est = describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert est.n == 5 and est.mean == 3.0
    assert est.std == pytest.approx(math.sqrt(2.5))  # ddof=1
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert est.ci_low == pytest.approx(3 - half) and est.ci_high == pytest.approx(3 + half)


def test_describe_ignores_nan_and_has_no_interval_for_one_value():
    est = describe([0.5, float("nan")])
    assert est.n == 1 and est.mean == 0.5 and math.isnan(est.ci_low) and math.isnan(est.std)
    assert describe([]).n == 0


def test_constant_values_give_a_zero_width_interval():
    est = describe([0.9, 0.9, 0.9])
    assert est.ci_low == est.ci_high == pytest.approx(0.9)


def test_welch_interval_known_answer():
    # a: mean 2, var 1 (n=3); b: mean 0, var 4 (n=3): se = sqrt(1/3 + 4/3),
    # df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2) = 2.9412
    est = welch([1.0, 2.0, 3.0], [-2.0, 0.0, 2.0])
    se = math.sqrt(5 / 3)
    df = (5 / 3) ** 2 / ((1 / 3) ** 2 / 2 + (4 / 3) ** 2 / 2)
    assert est.mean == pytest.approx(2.0)
    assert est.ci_high - est.mean == pytest.approx(t_quantile(df) * se)
    assert "Welch" in est.method


def test_difference_is_paired_when_seeds_match_and_welch_otherwise():
    a = {0: 0.90, 1: 0.92, 2: 0.94}
    b = {0: 0.89, 1: 0.91, 2: 0.93}  # every seed exactly 0.01 lower: paired CI has no width
    paired = difference(a, b)
    assert "paired" in paired.method
    assert paired.ci_low == pytest.approx(0.01) and paired.ci_high == pytest.approx(0.01)
    unpaired = difference(a, {0: 0.89, 1: 0.91, 5: 0.93})
    assert "Welch" in unpaired.method and unpaired.ci_low < 0 < unpaired.ci_high


@pytest.mark.parametrize("low, high, band, expected", [
    # about 2 +- 1: inside, touching the closed edges, straddling, outside
    (1.5, 2.5, Band(1, 3), SUPPORTED),
    (1.0, 3.0, Band(1, 3), SUPPORTED),
    (0.5, 2.5, Band(1, 3), INCONCLUSIVE),
    (3.0001, 4, Band(1, 3), CONTRADICTED),
    (-1, 0.99, Band(1, 3), CONTRADICTED),
    # greater than 0 (open): an interval starting exactly at 0 is not inside
    (0.1, 0.5, Band(low=0, low_open=True), SUPPORTED),
    (0.0, 0.5, Band(low=0, low_open=True), INCONCLUSIVE),
    (-0.5, 0.0, Band(low=0, low_open=True), CONTRADICTED),
    (-0.5, -0.1, Band(low=0, low_open=True), CONTRADICTED),
    # at most 0.5
    (-3, 0.5, Band(high=0.5), SUPPORTED),
    (0.4, 0.6, Band(high=0.5), INCONCLUSIVE),
    (0.6, 2, Band(high=0.5), CONTRADICTED),
    # exact values (parameter counts): a point interval
    (203530, 203530, Band(199434, 199434), CONTRADICTED),
    (9550, 9550, Band(9550, 9550), SUPPORTED),
    # no interval at all
    (math.nan, math.nan, Band(1, 3), INCONCLUSIVE),
])
def test_verdict_boundaries(low, high, band, expected):
    assert verdict(low, high, band) == expected
