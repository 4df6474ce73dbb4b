"""The series names dashboards and alerts may use: what the code registers, plus what other branches add.

``PENDING`` lists, in this one place, the metrics TEAM-RULES.md assigns to features whose code
this branch cannot see yet (rollout, scale). After the
merge, the lead deletes every entry the registry now has; any left over names a series the
app never exports.
"""
from __future__ import annotations

import re

from prometheus_client import REGISTRY

SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("_count", "_sum", ""), "info": ("_info",)}

PENDING: dict[str, str] = {
    # rollout
    "movierecs_model_info": "gauge", "movierecs_model_load_seconds": "histogram",
    "movierecs_model_trained_timestamp_seconds": "gauge", "movierecs_rollout_canary_percent": "gauge",
    "movierecs_rollout_served_lists": "counter", "movierecs_rollout_conversions": "counter",
    "movierecs_rollout_rollbacks": "counter", "movierecs_rollout_decision": "gauge",
    "movierecs_retrain_runs": "counter", "movierecs_retrain_last_success_timestamp_seconds": "gauge",
    # scale
    "movierecs_partitions_owned": "gauge", "movierecs_standby_partitions": "gauge",
}


def registered() -> dict[str, str]:
    """Family name -> type of every ``movierecs_`` metric the worker's modules register."""
    from app import app

    app.discover()  # what a worker imports at start
    return {f.name: f.type for f in REGISTRY.collect() if f.name.startswith("movierecs_")}


def sample_names(families: dict[str, str]) -> set[str]:
    return {name + suffix for name, kind in families.items() for suffix in SUFFIXES[kind]}


def exported_names() -> set[str]:
    """Every sample name a scrape of a worker can carry, once the pending branches are merged."""
    return sample_names(registered()) | sample_names(PENDING) | {"up"}


RECORDED = re.compile(r"\b[a-z_]+:[a-z0-9_:]+\b")
METRIC = re.compile(r"\bmovierecs_[a-z0-9_]+\b|\bup(?=\{)")


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """(recording rule names, raw series names: ``movierecs_*`` and ``up``) a PromQL expression reads."""
    recorded = set(RECORDED.findall(expr))
    return recorded, set(METRIC.findall(RECORDED.sub(" ", expr)))
