"""The always-valid test: its statistic by hand, its decisions, and its error rate when peeked at."""
from __future__ import annotations

import math

import numpy as np

from app.rollout.sequential import compare, decide, mixture_ratio, radius, wilson, z_test


def test_mixture_ratio_matches_the_formula_by_hand() -> None:
    n_a, c_a, n_b, c_b, sd = 1000, 100, 1000, 130, 0.1
    p = 230 / 2000
    v = p * (1 - p) * (1 / 1000 + 1 / 1000)
    tau2 = sd**2 * p * (1 - p)
    d = 0.13 - 0.10
    expected = math.sqrt(v / (v + tau2)) * math.exp(d * d * tau2 / (2 * v * (v + tau2)))
    assert math.isclose(float(mixture_ratio(n_a, c_a, n_b, c_b, sd)), expected, rel_tol=1e-12)
    # the interval's edge sits exactly where the ratio reaches 1 / alpha
    alpha = 1 / expected
    assert math.isclose(float(radius(n_a, c_a, n_b, c_b, alpha, sd)), d, rel_tol=1e-9)


def test_decisions_and_their_edges() -> None:
    assert compare(2000, 200, 2000, 300, alpha=0.05).decision == "ship"
    assert compare(2000, 300, 2000, 200, alpha=0.05).decision == "keep"
    assert compare(2000, 200, 2000, 210, alpha=0.05).decision == "inconclusive"
    assert compare(50, 0, 50, 40, alpha=0.05).decision == "inconclusive", "too few requests to decide"
    assert compare(0, 0, 0, 0, alpha=0.05).decision == "inconclusive"
    assert compare(500, 0, 500, 0, alpha=0.05).p_value == 1.0
    result = compare(2000, 200, 2000, 300, alpha=0.05)
    assert result.interval[0] > 0 and math.isclose(result.relative_lift, 0.5) and result.p_value < 0.05


def test_peeking_after_every_100_requests_keeps_the_error_rate_and_the_z_test_does_not() -> None:
    rng = np.random.default_rng(7)
    streams, checks = 400, np.arange(100, 10_001, 100)
    n_b = rng.binomial(100, 0.5, (streams, checks.size)).cumsum(1)
    n_a = checks - n_b
    c_a = rng.binomial(np.diff(np.concatenate([np.zeros((streams, 1), int), n_a], 1), axis=1), 0.1).cumsum(1)
    c_b = rng.binomial(np.diff(np.concatenate([np.zeros((streams, 1), int), n_b], 1), axis=1), 0.1).cumsum(1)
    ours = (decide(n_a, c_a, n_b, c_b, 0.05) != 0).any(1).mean()
    plain = (z_test(n_a, c_a, n_b, c_b) != 0).any(1).mean()
    assert ours <= 0.05 and plain > 0.2


def test_wilson_interval() -> None:
    low, high = wilson(100, 10)
    assert math.isclose(low, 0.0552, abs_tol=1e-3) and math.isclose(high, 0.1744, abs_tol=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
