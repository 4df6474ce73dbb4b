"""Exposure: the lists a worker serves, counted per arm in tumbling windows over the whole catalog.

Every answer is folded into one delta per arm and window where it is made
(``agents.answer_records``), and a timer here sends what was folded to ``exposure-deltas``,
keyed by arm; ``apply_exposure`` adds the deltas into the windowed ``exposure`` table, so the
worker owning an arm's partition holds its whole-catalog counts (what Gini over the catalog
needs) from every worker's answers. A timer turns the arms this worker owns into the fairness
gauges; an arm moved away is unexported. Every list a worker serves also counts as trials of
its exploration sampler, and every conversion on ``conversions`` as a success: a worker sees
its own answers and the conversions of its own partitions, a sample of both, which is what
a per-movie rate needs.
"""
from __future__ import annotations

from typing import Any

import orjson

from agents import topics
from agents.answer_records import answer_records
from agents.dead_letters import send_dead_letter
from app import app
from app.deployment import holder
from app.exceptions import InvalidEvent
from app.fairness_views import owned_arms, summary_of
from app.metrics import (FAIRNESS_AMPLIFICATION, FAIRNESS_COVERAGE, FAIRNESS_GINI, FAIRNESS_RESPONSES,
                         FAIRNESS_STARVATION, FAIRNESS_TAIL_SHARE)
from app.serving import EXPLORATION
from app.settings import get_settings
from tables import exposure_windows
from tables.exposure import merge

settings = get_settings()
_GAUGES = (FAIRNESS_GINI, FAIRNESS_COVERAGE, FAIRNESS_STARVATION, FAIRNESS_TAIL_SHARE, FAIRNESS_RESPONSES)
_exported: set[str] = set()


@app.timer(settings.exposure_flush_interval_s)
async def flush_exposure() -> None:
    """The exposure folded since the last flush goes out with the next burst of answer records."""
    answer_records.flush_exposure()


@app.agent(topics.exposure_deltas)
async def apply_exposure(stream: Any) -> None:
    """Deltas into the arm's row of their window (by the responses' time, so a late delta lands alike)."""
    by_window = exposure_windows.relative_to(lambda event: event.value["window_start"] / 1000.0)
    async for delta in stream:
        try:
            current = by_window[delta["arm"]].value()
        except KeyError:
            current = None
        by_window[delta["arm"]] = merge(current, delta)


def conversion_movie(value: bytes | None) -> int:
    """The movie of a ``conversions`` record, or ``InvalidEvent`` saying why there is none."""
    try:
        record = orjson.loads(value or b"")
        return int(record["movie_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"conversion without a movie_id: {type(exc).__name__}: {exc}") from None


@app.agent(topics.conversions)
async def learn_conversions(stream: Any) -> None:
    """Each conversion is a success of its movie in this worker's exploration sampler."""
    async for event in stream.events():
        try:
            EXPLORATION.convert(conversion_movie(event.message.value))
        except InvalidEvent as exc:
            await send_dead_letter(event.message, exc)


def export_gauges() -> None:
    """Set the gauges of the arms this worker owns (current window); drop the arms it gave away."""
    global _exported
    deployed = holder.current
    arms = owned_arms() if deployed is not None else set()
    for arm in arms:
        summary = summary_of(arm, "current", deployed)
        FAIRNESS_GINI.labels(arm).set(summary.gini)
        FAIRNESS_COVERAGE.labels(arm).set(summary.coverage)
        FAIRNESS_STARVATION.labels(arm).set(summary.starvation)
        FAIRNESS_TAIL_SHARE.labels(arm).set(summary.tail_share)
        FAIRNESS_RESPONSES.labels(arm).set(summary.n_responses)
        for tier, value in summary.amplification.items():
            FAIRNESS_AMPLIFICATION.labels(arm, tier).set(value)
    for arm in _exported - arms:
        for gauge in _GAUGES:
            gauge.remove(arm)
        for tier in ("head", "tail"):
            FAIRNESS_AMPLIFICATION.remove(arm, tier)
    _exported = arms


@app.timer(settings.fairness_gauge_interval_s)
async def fairness_gauges() -> None:
    """The fairness gauges, refreshed off the request path."""
    export_gauges()
