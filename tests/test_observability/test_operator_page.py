"""The operator page's figures: quantiles as Prometheus computes them, and series read by name."""
from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.observability.recent import RecentDeadLetters
from app.operator_page.summary import bucket_quantile, read_samples, summarize


def test_bucket_quantile_interpolates_like_histogram_quantile() -> None:
    buckets = [(0.001, 0.0), (0.01, 0.0), (0.025, 60.0), (math.inf, 60.0)]
    assert bucket_quantile(0.95, buckets) == pytest.approx(0.02425)  # promtool's answer for the same buckets
    assert bucket_quantile(0.5, [(1.0, 10.0), (2.0, 30.0), (math.inf, 30.0)]) == pytest.approx(1.25)
    assert bucket_quantile(0.99, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0  # in +Inf: the top finite bound
    assert bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def test_summary_reads_every_feature_by_its_exported_name() -> None:
    registry = CollectorRegistry()
    answers = Counter("movierecs_answers_total", "", ["via", "strategy", "status", "arm"], registry=registry)
    answers.labels("http", "model", "200", "stable").inc(8)
    answers.labels("kafka", "model", "503", "canary").inc(2)
    seconds = Histogram("movierecs_answer_seconds", "", ["via", "strategy", "arm"], buckets=(0.001, 0.01), registry=registry)
    for _ in range(9):
        seconds.labels("http", "model", "stable").observe(0.0005)
    seconds.labels("http", "model", "stable").observe(0.005)
    Gauge("movierecs_fairness_gini", "", ["arm"], registry=registry).labels("stable").set(0.7)
    Gauge("movierecs_rollout_canary_percent", "", registry=registry).set(10)
    Counter("movierecs_spam_flags_total", "", ["action"], registry=registry).labels("flagged").inc(3)
    Gauge("unrelated_thing", "", registry=registry).set(1)
    figures = summarize(read_samples(registry))
    assert figures["answers_by_arm"] == {"stable": 8.0, "canary": 2.0}
    assert figures["answers_by_status"] == {"200": 8.0, "503": 2.0}
    stable = figures["latency_by_arm"]["stable"]
    assert stable["count"] == 10 and stable["p50"] == pytest.approx(0.001 * 5 / 9) and stable["p99"] > 0.001
    assert figures["latency_by_via"]["http"] == stable
    assert figures["fairness"] == {"stable": {"gini": 0.7}}
    assert figures["rollout"]["canary_percent"] == 10 and figures["spam"]["flags"] == {"flagged": 3.0}
    assert figures["recovered"] is False and figures["build"] is None


def test_recent_dead_letters_keep_the_newest_first_and_bounded() -> None:
    recent = RecentDeadLetters(size=3)
    for offset in range(5):
        recent.add("watch", 0, offset, "bad_avro", f"broken {offset}" + "x" * 500)
    latest = recent.latest()
    assert [x["offset"] for x in latest] == [4, 3, 2] and len(latest[0]["reason"]) == 300
