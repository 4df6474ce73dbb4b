"""Always-valid comparison of two conversion rates: a mixture SPRT, a pure function of counts.

The system looks at the figures continuously. A fixed-horizon z-test checked again and again
declares a false winner far more often than its nominal rate (see ``bench/sequential.py``);
the mixture sequential probability ratio test (Johari, Pekelis & Walsh, "Always valid
inference", the test behind Optimizely's stats engine) may be checked after every request.

The difference ``d = p_b - p_a`` is estimated by ``d_hat`` with variance ``V``, pooled under
the null (``p(1-p)(1/n_a + 1/n_b)``). Mixing the likelihood ratio of ``N(d, V)`` against
``N(0, V)`` over ``d ~ N(0, tau^2)`` gives

    Lambda = sqrt(V / (V + tau^2)) * exp(d_hat^2 tau^2 / (2 V (V + tau^2)))

which under the null is (asymptotically) a non-negative martingale with mean 1, so by Ville's
inequality it ever reaches ``1/alpha`` with probability at most ``alpha``. Inverting it gives
a confidence sequence for ``d``: ``d_hat +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) +
log((V + tau^2) / V)))``, valid at every check at once. ``tau`` is set as ``mixture_sd``
pooled standard deviations, so the test reads the evidence on the standardised scale and one
value suits any base rate.

Every function takes plain numbers or numpy arrays of them (the benchmark runs thousands of
streams at once).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MIXTURE_SD = 0.1
"""Prior standard deviation of the standardised effect ``d / sd``: the test is most sensitive
to effects of about this size (a 20% lift on a 10% rate is 0.067, on a 30% rate 0.13)."""
MIN_REQUESTS = 100
"""Requests each arm needs before any decision; the normal approximation needs some data."""
Z95 = 1.959963984540054

Decision = Literal["ship", "keep", "inconclusive"]


def _arrays(*values):
    return [np.asarray(v, dtype=np.float64) for v in values]


def _variances(n_a, c_a, n_b, c_b, mixture_sd: float):
    """``V`` (the difference's variance, pooled under the null), ``tau^2``, and where both are defined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (c_a + c_b) / (n_a + n_b)
        variance = pooled * (1 - pooled)
        v = variance * (1 / n_a + 1 / n_b)
    return v, mixture_sd**2 * variance, (n_a > 0) & (n_b > 0) & (variance > 0)


def mixture_ratio(n_a, c_a, n_b, c_b, mixture_sd: float = MIXTURE_SD):
    """The mixture likelihood ratio ``Lambda`` of arm b against arm a (1 where it is undefined)."""
    n_a, c_a, n_b, c_b = _arrays(n_a, c_a, n_b, c_b)
    v, tau2, defined = _variances(n_a, c_a, n_b, c_b, mixture_sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = c_b / n_b - c_a / n_a
        ratio = np.sqrt(v / (v + tau2)) * np.exp(d**2 * tau2 / (2 * v * (v + tau2)))
    return np.where(defined, ratio, 1.0)


def radius(n_a, c_a, n_b, c_b, alpha: float, mixture_sd: float = MIXTURE_SD):
    """Half-width of the always-valid confidence sequence of ``p_b - p_a`` (inf where undefined)."""
    n_a, c_a, n_b, c_b = _arrays(n_a, c_a, n_b, c_b)
    v, tau2, defined = _variances(n_a, c_a, n_b, c_b, mixture_sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.sqrt(v * (v + tau2) / tau2 * (2 * np.log(1 / alpha) + np.log((v + tau2) / v)))
    return np.where(defined, width, np.inf)


def decide(n_a, c_a, n_b, c_b, alpha: float, mixture_sd: float = MIXTURE_SD,
           min_requests: int = MIN_REQUESTS):
    """``1`` when b converts better (ship b), ``-1`` when worse (keep a), ``0`` inconclusive."""
    n_a, c_a, n_b, c_b = _arrays(n_a, c_a, n_b, c_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where((n_a > 0) & (n_b > 0), c_b / n_b - c_a / n_a, 0.0)
    significant = (mixture_ratio(n_a, c_a, n_b, c_b, mixture_sd) >= 1 / alpha) & (
        np.minimum(n_a, n_b) >= min_requests)
    return np.where(significant, np.sign(d), 0).astype(np.int64)


def z_test(n_a, c_a, n_b, c_b, alpha: float = 0.05):
    """The fixed-horizon two-proportion z-test (pooled), as the system this replaces used it."""
    n_a, c_a, n_b, c_b = _arrays(n_a, c_a, n_b, c_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (c_a + c_b) / (n_a + n_b)
        z = (c_b / n_b - c_a / n_a) / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    from scipy.stats import norm

    critical = norm.ppf(1 - alpha / 2)
    return np.where(np.isfinite(z) & (np.abs(z) >= critical), np.sign(z), 0).astype(np.int64)


def wilson(n, c, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a rate ``c / n`` (95% by default); (0, 1) with no data."""
    if n <= 0:
        return 0.0, 1.0
    p = c / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass(frozen=True)
class Comparison:
    """Arm b against arm a: the lift, its always-valid interval, the evidence and the decision."""

    decision: Decision
    difference: float
    """``p_b - p_a``."""
    interval: tuple[float, float]
    """Always-valid ``1 - alpha`` confidence sequence of the difference (at this moment)."""
    relative_lift: float | None
    """``(p_b - p_a) / p_a``; None while ``p_a`` is 0."""
    likelihood_ratio: float
    p_value: float
    """``min(1, 1 / Lambda)``: an always-valid p-value at this moment."""

    def as_dict(self) -> dict:
        return {"decision": self.decision, "difference": self.difference, "interval": list(self.interval),
                "relative_lift": self.relative_lift, "likelihood_ratio": self.likelihood_ratio,
                "p_value": self.p_value}


def compare(n_a: int, c_a: int, n_b: int, c_b: int, alpha: float, mixture_sd: float = MIXTURE_SD,
            min_requests: int = MIN_REQUESTS) -> Comparison:
    """The comparison of arm b (treatment) with arm a (control) from their counts."""
    p_a = c_a / n_a if n_a else 0.0
    p_b = c_b / n_b if n_b else 0.0
    d = p_b - p_a
    half = float(radius(n_a, c_a, n_b, c_b, alpha, mixture_sd))
    ratio = float(mixture_ratio(n_a, c_a, n_b, c_b, mixture_sd))
    verdict = int(decide(n_a, c_a, n_b, c_b, alpha, mixture_sd, min_requests))
    decision: Decision = {1: "ship", -1: "keep", 0: "inconclusive"}[verdict]
    return Comparison(decision, d, (d - half, d + half), d / p_a if p_a > 0 else None, ratio,
                      min(1.0, 1.0 / ratio) if ratio > 0 else 1.0)
