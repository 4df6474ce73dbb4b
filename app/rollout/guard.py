"""The canary guard's rules: when a canary is rolled back by itself, and the reason it gives.

After ``min_requests`` canary requests the canary is rolled back when its error rate or its
p95 latency breaks the SLO, or when it converts worse than stable by the same sequential test
as every decision (so a guard that looks all the time is still wrong at most ``alpha`` of the
time). Pure: the leader's timer feeds it the merged figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.rollout.sequential import compare
from app.rollout.stats import Row, percentile


@dataclass(frozen=True)
class GuardRules:
    max_error_rate: float
    max_p95_ms: float
    min_requests: int
    alpha: float

    @classmethod
    def from_settings(cls, settings: Any) -> GuardRules:
        return cls(settings.canary_max_error_rate, settings.canary_max_p95_ms, settings.canary_min_requests,
                   settings.sequential_alpha)


@dataclass(frozen=True)
class Breach:
    """Why a canary must go: ``trigger`` (a metric label) and a sentence with the numbers."""

    trigger: str
    """``error_rate``, ``latency`` or ``conversion``."""
    reason: str


def check(canary: Row | None, stable: Row | None, rules: GuardRules) -> Breach | None:
    """The breach of the canary's figures against its SLOs and stable, or None while it may stay."""
    if canary is None or canary["requests"] < rules.min_requests:
        return None
    requests = canary["requests"]
    error_rate = canary["errors"] / requests
    if error_rate > rules.max_error_rate:
        return Breach("error_rate", f"canary error rate {error_rate:.1%} over {requests} requests breaks the "
                                    f"SLO of {rules.max_error_rate:.1%}")
    p95 = percentile(canary["latency"], 0.95)
    if p95 is not None and p95 > rules.max_p95_ms:
        return Breach("latency", f"canary p95 latency {p95:g} ms over {requests} requests breaks the SLO of "
                                 f"{rules.max_p95_ms:g} ms")
    if stable is not None and stable["served"] >= rules.min_requests:
        result = compare(stable["served"], stable["conversions"], canary["served"], canary["conversions"],
                         rules.alpha, min_requests=rules.min_requests)
        if result.decision == "keep":
            return Breach("conversion", f"canary converts worse than stable: {canary['conversions']}/"
                                        f"{canary['served']} against {stable['conversions']}/{stable['served']} "
                                        f"(difference {result.difference:+.4f}, always-valid p {result.p_value:.4f})")
    return None
