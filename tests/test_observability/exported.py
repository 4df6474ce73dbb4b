"""The series names dashboards and alerts may use: what the code registers, plus what other branches add.

``PENDING`` lists, in this one place, metrics a dashboard or alert may name before the code
registers them (a feature on its way); a test fails once the registry has one, so the list
never hides a series the app does not export. Today every name is registered.
"""
from __future__ import annotations

import re

from prometheus_client import REGISTRY

SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("_count", "_sum", ""), "info": ("_info",)}

PENDING: dict[str, str] = {}


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
