"""The quarantine as a fold of ``user-flags``: flagged or quarantined puts a user in, cleared takes them out.

Workers keep the fold in the ``spam_quarantine`` table (per user, for ``/users/{id}``), and
training rebuilds it from the topic itself, so both always agree with what was published.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.events import MAX_USER_ID
from app.exceptions import BadEvent
from app.kafka_security import client_kwargs
from app.partitioning import partition_of, user_key
from app.schema_registry import codec_for
from app.settings import Settings
from app.spam.rules import Verdict

log = logging.getLogger(__name__)
FLAGGED, QUARANTINED, CLEARED = "flagged", "quarantined", "cleared"
ACTIONS = (FLAGGED, QUARANTINED, CLEARED)


def flag_record(user_id: int, action: str, count: int, decided: Verdict) -> dict[str, Any]:
    """The ``UserFlag`` of a detection; the population fields carry the robust centre and scale."""
    return {"user_id": user_id, "window_start": decided.window_start, "window_end": decided.window_end,
            "event_count": count, "population_mean": decided.median, "population_std": decided.scale,
            "zscore": decided.zscore(count), "action": action}


def refusal(flag: dict[str, Any], partition: int, partitions: int) -> str | None:
    """Why a decoded flag found on ``partition`` does not count (workers and training agree), or None."""
    if flag["action"] not in ACTIONS or not 0 < flag["user_id"] <= MAX_USER_ID:
        return (f"flag with action {flag['action']!r} for user {flag['user_id']}: the action must be "
                f"one of {', '.join(ACTIONS)}, the user id positive")
    owner = partition_of(user_key(flag["user_id"]), partitions)
    if owner != partition:
        return (f"flag of user {flag['user_id']} on partition {partition}, owner {owner}: "
                f"key it by user id with Kafka's murmur2 partitioner")
    return None


def cleared_record(user_id: int, now_ms: int | None = None) -> dict[str, Any]:
    """The ``UserFlag`` an operator publishes to lift a quarantine (its window is the moment)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return {"user_id": user_id, "window_start": now_ms, "window_end": now_ms, "event_count": 0,
            "population_mean": 0.0, "population_std": 0.0, "zscore": 0.0, "action": CLEARED}


def new_row() -> dict[str, Any]:
    """A user never flagged."""
    return {"status": CLEARED, "detections": 0, "last_flag": None}


def apply_flag(row: dict[str, Any] | None, flag: dict[str, Any]) -> dict[str, Any]:
    """A user's standing after ``flag``: status, how many detections, and the last flag."""
    row = dict(row) if row else new_row()
    if flag["action"] == CLEARED:
        row["status"] = CLEARED
    else:
        row["status"] = QUARANTINED
        row["detections"] += 1
    row["last_flag"] = dict(flag)
    return row


def standing(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A quarantine row's effective standing: the topic's fold, then the flags sent but not yet read back.

    The detector applies its own flags at once (``sent``), so a second detection a moment
    later already sees the user in quarantine; reading them back from the topic (``received``)
    folds them in topic order, so a clear published in between still wins or loses exactly as
    the topic orders them.
    """
    if row is None:
        return None
    for flag in row.get("pending", ()):
        row = apply_flag(row, flag)
    return row


def is_quarantined(row: dict[str, Any] | None) -> bool:
    current = standing(row)
    return bool(current) and current["status"] == QUARANTINED


def sent(row: dict[str, Any] | None, flag: dict[str, Any]) -> dict[str, Any]:
    """The row after this worker published ``flag`` (not yet read back)."""
    row = row or new_row()
    return {**row, "pending": [*row.get("pending", ()), dict(flag)]}


def received(row: dict[str, Any] | None, flag: dict[str, Any], offset: int) -> dict[str, Any] | None:
    """The row after reading ``flag`` at ``offset`` of the topic; None for a replay."""
    if row is not None and offset <= row.get("offset", -1):
        return None
    pending = list((row or {}).get("pending", ()))
    if pending and pending[0] == flag:
        pending.pop(0)
    return {**apply_flag(row, flag), "pending": pending, "offset": offset}


def fold(flags: Iterable[dict[str, Any]]) -> frozenset[int]:
    """The users in quarantine after ``flags`` (in each user's topic order)."""
    rows: dict[int, dict[str, Any]] = {}
    for flag in flags:
        rows[flag["user_id"]] = apply_flag(rows.get(flag["user_id"]), flag)
    return frozenset(user for user, row in rows.items() if is_quarantined(row))


async def read_flags(settings: Settings, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every ``UserFlag`` on the topic now, each partition in order (a user lives on one)."""
    topic = settings.topic("user-flags")
    codec = codec_for("UserFlag", topic)
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []  # no flag was ever published (and describing it could auto-create it)
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        flags: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took over {timeout_s}s")
            for messages in (await consumer.getmany(*tps, timeout_ms=500)).values():
                for message in messages:
                    try:
                        flag = codec.decode(message.value)
                    except BadEvent as exc:
                        reason: str | None = str(exc)
                    else:
                        reason = refusal(flag, message.partition, len(tps))
                    if reason:  # the workers dead-letter it; training must not stop
                        log.warning("skipping %s:%d@%d: %s", topic, message.partition, message.offset, reason)
                    else:
                        flags.append(flag)
        return flags
    finally:
        await consumer.stop()


async def quarantined_users(settings: Settings) -> frozenset[int]:
    """Users whose events training must leave out: the fold of the whole ``user-flags`` topic."""
    return fold(await read_flags(settings))
