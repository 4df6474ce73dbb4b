"""Conversions in the stream: watches matched to the served lists waiting on their user.

Each answer leaves its list in ``pending_conversions`` on the user's partition
(``agents.answer_records``). The watch ingest agent hands every batch of valid watches it
applied on their users' partitions to ``convert_watches``, so a user's watches meet the
user's pending lists locally, with no second decoding: a watch of a listed movie after the
response and within ``MOVIE_RECS_CONVERSION_WINDOW_S`` converts the list
(``app.rollout.conversions``). A conversion is counted in its arm's figures and metrics and
published on ``conversions`` (keyed by user, JSON) for whoever learns from conversions.

The per-arm figures are flushed to the ``arm_stats`` changelog every
``MOVIE_RECS_ROLLOUT_STATS_INTERVAL_S``, and every worker follows that changelog, so each
one sees every partition's figures (``figures``): /rollout/status and the canary guard read
the same numbers on any worker.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import orjson
from faust.types import TP

from agents import topics
from agents.answer_records import answer_records
from agents.broadcast import follow
from app import app
from app.events import WatchEvent
from app.metrics import CONVERSIONS, PENDING_LISTS
from app.rollout import stats
from app.rollout.conversions import Conversion, match
from app.settings import get_settings
from tables import arm_stats, pending_conversions

settings = get_settings()
WINDOW_MS = int(settings.conversion_window_s * 1000)
SWEEP_INTERVAL_S = 60.0


def owned(table: Any) -> Any:
    """Whether this worker owns (actively) a partition of ``table``."""
    changelog = table.changelog_topic.get_topic_name()
    return lambda partition: app.assignor.is_active(TP(changelog, partition))


def position_label(position: int) -> str:
    return str(position) if position <= 10 else "11+"


async def convert_watches(by_user: Mapping[bytes, Sequence[tuple[Any, WatchEvent]]]) -> list[Conversion]:
    """Match valid watches, by user key (each with its message, on the user's partition), against
    their users' pending lists; the conversions."""
    found, changed = [], {}
    for key, watches in by_user.items():
        entries = before = pending_conversions.entries(key)
        if not entries:
            continue  # nothing waits on this user
        for message, watch in watches:
            conversion, entries = match(entries, watch.movie_id, watch.ts, WINDOW_MS)
            if conversion is not None:
                found.append((message.partition, key, conversion))
        if entries is not before:
            changed[key] = entries
    changelog = pending_conversions.changelog_topic.get_topic_name()
    for key, entries in changed.items():
        answer_records.changelog(changelog, *pending_conversions.put(key, entries))
    for partition, key, conversion in found:
        row = arm_stats.row(partition, conversion.trial, conversion.arm, "", "")
        stats.record_conversion(row, conversion.position)
        CONVERSIONS.labels(conversion.arm, position_label(conversion.position)).inc()
        await topics.conversions.send(key=key, value=orjson.dumps(conversion.as_record()))
    return [conversion for _, _, conversion in found]


@app.timer(interval=settings.rollout_stats_interval_s)
async def flush_arm_stats() -> None:
    """Publish the per-arm figures counted here since the last flush."""
    changelog = arm_stats.changelog_topic.get_topic_name()
    for partition, key, value in arm_stats.flush(owned(arm_stats)):
        answer_records.changelog(changelog, partition, key, value)


@app.timer(interval=SWEEP_INTERVAL_S)
async def expire_pending() -> None:
    """Forget served lists older than the conversion window."""
    rows, waiting = pending_conversions.sweep(int(time.time() * 1000), WINDOW_MS, owned(pending_conversions))
    changelog = pending_conversions.changelog_topic.get_topic_name()
    for row in rows:
        answer_records.changelog(changelog, *row)
    PENDING_LISTS.set(waiting)


class Figures:
    """Every partition's latest per-arm rows, as the ``arm_stats`` changelog has them."""

    def __init__(self) -> None:
        self.rows: dict[bytes, dict[str, Any]] = {}

    async def apply(self, records: list[Any]) -> None:
        for record in records:
            if record.value is None:
                self.rows.pop(record.key, None)
            else:
                self.rows[record.key] = orjson.loads(record.value)

    def merged(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Per (trial, arm), the rows of every partition summed."""
        return stats.merge(self.rows.values())


figures = Figures()


@app.task
async def follow_arm_stats() -> None:
    """Keep every partition's figures, from every worker."""
    await follow(settings, arm_stats.changelog_topic.get_topic_name(), figures.apply, since_ms=0)
