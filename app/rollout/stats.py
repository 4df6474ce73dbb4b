"""Per-arm figures: counts kept per (partition, trial, arm), merged across partitions.

A row is JSON-ready (it travels through a table changelog): requests the arm was asked to
answer, errors (the model raised), lists served, conversions (by list position), a latency
histogram over fixed buckets, and for a shadow the summed overlap of its lists with the served
ones. Fixed buckets make rows mergeable: the p95 of an arm over every worker is read from the
summed histogram (to the bucket's upper edge).
"""
from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Iterable

from app.rollout.sequential import wilson

LATENCY_BUCKETS_MS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0,
                      150.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 2000.0, 5000.0, math.inf)
"""Upper edges of the latency histogram's buckets, in milliseconds."""
COUNTS = ("requests", "errors", "served", "conversions")

Row = dict[str, Any]


def new_row(trial: str, arm: str, model_name: str, model_version: str) -> Row:
    return {"trial": trial, "arm": arm, "model_name": model_name, "model_version": model_version,
            "requests": 0, "errors": 0, "served": 0, "conversions": 0, "positions": {},
            "latency": [0] * len(LATENCY_BUCKETS_MS), "overlap": 0.0}


def latency_bucket(latency_ms: float) -> int:
    """The index of the first bucket whose upper edge is at least ``latency_ms``."""
    return bisect_left(LATENCY_BUCKETS_MS, latency_ms)


def record_answer(row: Row, latency_ms: float, ok: bool) -> None:
    """One request the arm answered (``ok``) or failed on, and how long the arm's model took."""
    row["requests"] += 1
    row["served" if ok else "errors"] += 1
    row["latency"][latency_bucket(latency_ms)] += 1


def record_conversion(row: Row, position: int) -> None:
    """One served list that converted, at ``position`` (1 = the top of the list)."""
    row["conversions"] += 1
    row["positions"][str(position)] = row["positions"].get(str(position), 0) + 1


def record_shadow(row: Row, latency_ms: float, overlap: float | None) -> None:
    """One shadow scoring: its time and the share of the served list it also had (None: failed)."""
    record_answer(row, latency_ms, overlap is not None)
    row["overlap"] += overlap or 0.0


def merge(rows: Iterable[Row]) -> dict[tuple[str, str], Row]:
    """Rows of every partition summed per (trial, arm)."""
    merged: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row["trial"], row["arm"])
        total = merged.setdefault(key, new_row(row["trial"], row["arm"], row["model_name"], row["model_version"]))
        if not total["model_name"]:  # a row that only counted conversions does not know its version
            total["model_name"], total["model_version"] = row["model_name"], row["model_version"]
        for name in COUNTS:
            total[name] += row[name]
        total["overlap"] += row.get("overlap", 0.0)
        for position, count in row["positions"].items():
            total["positions"][position] = total["positions"].get(position, 0) + count
        total["latency"] = [a + b for a, b in zip(total["latency"], row["latency"])]
    return merged


def percentile(histogram: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a latency histogram, as its bucket's upper edge; None when empty."""
    total = sum(histogram)
    if not total:
        return None
    rank, seen = q * total, 0
    for edge, count in zip(LATENCY_BUCKETS_MS, histogram):
        seen += count
        if seen >= rank:
            return edge if math.isfinite(edge) else LATENCY_BUCKETS_MS[-2]
    return LATENCY_BUCKETS_MS[-2]


def figures(row: Row) -> dict[str, Any]:
    """What /rollout/status shows of an arm: rates with a 95% interval, p95 latency, positions."""
    served, requests = row["served"], row["requests"]
    low, high = wilson(served, row["conversions"])
    return {
        "arm": row["arm"], "trial": row["trial"], "model_name": row["model_name"],
        "model_version": row["model_version"], "requests": requests, "errors": row["errors"],
        "error_rate": row["errors"] / requests if requests else 0.0, "served": served,
        "conversions": row["conversions"], "conversion_rate": row["conversions"] / served if served else 0.0,
        "conversion_interval": [low, high], "p95_latency_ms": percentile(row["latency"], 0.95),
        "conversions_by_position": dict(sorted(row["positions"].items(), key=lambda item: int(item[0]))),
        **({"mean_overlap": row["overlap"] / served if served else None} if row["arm"] == "shadow" else {}),
    }
