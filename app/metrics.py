"""Prometheus metrics of the worker, in base units with the ``movierecs_`` prefix."""
from __future__ import annotations

from prometheus_client import Counter

EVENTS_INGESTED = Counter(
    "movierecs_events_ingested_total", "Valid events applied to the tables.", ["topic"])
EVENTS_REPLAYED = Counter(
    "movierecs_events_replayed_total", "Events skipped because their offset was applied before.",
    ["topic"])
EVENTS_REROUTED = Counter(
    "movierecs_events_rerouted_total",
    "Events found on a partition that does not own their user, moved to the owning one.",
    ["topic"])
DEAD_LETTERS = Counter(
    "movierecs_dead_letters_total", "Messages sent to the dead-letter topic.",
    ["topic", "reason"])
