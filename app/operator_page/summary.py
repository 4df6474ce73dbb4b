"""What the operator page shows, read from this process's Prometheus registry.

Reading the registry (not the code that owns each number) means a series another feature
adds, an ``arm`` label, fairness gauges, spam flags, appears here as soon as it is exported.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.registry import CollectorRegistry

Samples = dict[str, list[tuple[dict[str, str], float]]]
QUANTILES = (0.5, 0.95, 0.99)


def read_samples(registry: CollectorRegistry = REGISTRY, prefix: str = "movierecs_") -> Samples:
    """Every sample of the ``movierecs_`` families, by sample name (``_total``, ``_bucket``...)."""
    samples: Samples = {}
    for family in registry.collect():
        if not family.name.startswith(prefix):
            continue
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(le, count)`` buckets.

    Linear inside the bucket holding the rank; a rank in the +Inf bucket answers the largest
    finite bound, as Prometheus does. None when nothing was observed.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """Sum of a metric's samples grouped by one label."""
    out: dict[str, float] = {}
    for labels, value in samples.get(name, []):
        key = labels.get(label, "")
        out[key] = out.get(key, 0.0) + value
    return out


def latency(samples: Samples, group: str) -> dict[str, dict[str, float | None]]:
    """p50/p95/p99 and count of ``movierecs_answer_seconds`` per value of ``group`` (via or arm)."""
    buckets: dict[str, dict[float, float]] = {}
    for labels, value in samples.get("movierecs_answer_seconds_bucket", []):
        if group not in labels:
            continue
        per = buckets.setdefault(labels[group], {})
        bound = float(labels["le"])
        per[bound] = per.get(bound, 0.0) + value
    return {key: {**{f"p{round(q * 100)}": bucket_quantile(q, per.items()) for q in QUANTILES},
                  "count": per.get(math.inf, 0.0)}
            for key, per in sorted(buckets.items())}


def labelled(samples: Samples, name: str) -> list[dict[str, Any]]:
    """A metric's samples as ``{**labels, "value": v}`` rows."""
    return [{**labels, "value": value} for labels, value in samples.get(name, [])]


def single(samples: Samples, name: str) -> float | None:
    values = samples.get(name, [])
    return values[0][1] if values else None


def summarize(samples: Samples) -> dict[str, Any]:
    """The page's figures from the registry's samples (lag and dead letters come separately)."""
    fairness: dict[str, dict[str, float]] = {}
    for field in ("gini", "coverage", "starvation", "tail_share", "responses"):
        for labels, value in samples.get(f"movierecs_fairness_{field}", []):
            fairness.setdefault(labels.get("arm", ""), {})[field] = value
    return {
        "ingested": by_label(samples, "movierecs_events_ingested_total", "topic"),
        "dead_letters": by_label(samples, "movierecs_dead_letters_total", "reason"),
        "answers": labelled(samples, "movierecs_answers_total"),
        "answers_by_arm": by_label(samples, "movierecs_answers_total", "arm"),
        "answers_by_status": by_label(samples, "movierecs_answers_total", "status"),
        "latency_by_via": latency(samples, "via"),
        "latency_by_arm": latency(samples, "arm"),
        "tables": by_label(samples, "movierecs_table_rows", "table"),
        "recovered": single(samples, "movierecs_tables_recovered") == 1.0,
        "build": next(iter(labelled(samples, "movierecs_build_info")), None),
        "rollout": {
            "models": labelled(samples, "movierecs_model_info"),
            "canary_percent": single(samples, "movierecs_rollout_canary_percent"),
            "decisions": labelled(samples, "movierecs_rollout_decision"),
            "rollbacks": by_label(samples, "movierecs_rollout_rollbacks_total", "reason"),
        },
        "spam": {"flags": by_label(samples, "movierecs_spam_flags_total", "action"),
                 "quarantined_users": single(samples, "movierecs_spam_quarantined_users")},
        "fairness": fairness,
    }
