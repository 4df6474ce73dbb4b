"""Rollout series read at scrape time: what each arm serves, the canary's share, each arm's decision.

They describe state the worker already holds (the routing, the merged figures), so they are
computed when Prometheus asks rather than kept up to date on the serving path.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

DECISION_VALUE = {"ship": 1.0, "inconclusive": 0.0, "keep": -1.0}
"""``movierecs_rollout_decision``: 1 ship, 0 inconclusive, -1 keep."""


def arms_served(routing: Any) -> list[tuple[str, Any]]:
    """(arm name, deployment) for every arm of a routing, stable first."""
    if routing is None:
        return []
    return [("stable", routing.stable.deployed), *((name, arm.deployed) for name, arm in routing.arms.items())]


def decision_values(status: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(experiment or canary trial, arm, value) for every compared arm of a ``/rollout/status`` body."""
    trial = (status.get("experiment") or {}).get("experiment") or ("canary" if status.get("canary") else None)
    if trial is None:
        return []
    return [(trial, arm["arm"], DECISION_VALUE[arm["comparison"]["decision"]])
            for arm in status.get("arms", []) if "comparison" in arm]


class RolloutCollector(Collector):
    """Yields the rollout gauges from the holder's routing and the worker's rollout status."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from app.deployment import holder
        from app.rollout_views import status_body

        info = GaugeMetricFamily("movierecs_model_info", "Always 1: the version each arm serves, and its provenance.",
                                 labels=["arm", "model_name", "model_version", "git_sha", "data_snapshot_id"])
        trained = GaugeMetricFamily("movierecs_model_trained_timestamp_seconds",
                                    "When the version an arm serves was trained (its card's created_at).", labels=["arm"])
        for arm, deployed in arms_served(holder.routing):
            card = deployed.card
            info.add_metric([arm, deployed.name, deployed.version, card.get("git_sha", ""),
                             card.get("data_snapshot_id", "")], 1.0)
            trained.add_metric([arm], float(card.get("created_at", 0.0)))
        yield info
        yield trained
        status = status_body()
        yield GaugeMetricFamily("movierecs_rollout_canary_percent", "Percent of users the canary serves (0: none).",
                                value=float(status.get("canary_percent") or 0))
        decision = GaugeMetricFamily("movierecs_rollout_decision",
                                     "Each compared arm's sequential decision: 1 ship, 0 inconclusive, -1 keep.",
                                     labels=["experiment", "arm"])
        for experiment, arm, value in decision_values(status):
            decision.add_metric([experiment, arm], value)
        yield decision

