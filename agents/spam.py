"""Spam agents: count ratings per user and window, merge partitions' counts, flag and quarantine.

``ingest_events`` counts the ratings of its own batches (``count_ratings``), so a rating passes
through Faust once; it alone writes the per-user and per-partition window rows.
``detect_spam`` reads, co-partitioned with them, ``spam-thresholds`` (a decided window: flag
its suspects) and ``user-flags`` (the quarantine table is the fold of that topic), and alone
writes each partition's decisions and the quarantine rows. ``merge_spam_summaries`` is the
coordinator on the single partition of ``spam-summaries``. The rules are in ``app.spam``;
these agents only route events and keep rows.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from faust.types import EventT

from agents import topics
from agents.dead_letters import send_dead_letter
from agents.reroute import origin
from app import app
from app.events import RateEvent
from app.exceptions import BadEvent, DecodeError, InvalidEvent
from app.metrics import SPAM_FLAGS, SPAM_LATE_EVENTS, SPAM_QUARANTINED, SPAM_THRESHOLD
from app.partitioning import partition_of, user_key
from app.schema_registry import codec_for
from app.settings import get_settings
from app.spam.quarantine import (FLAGGED, QUARANTINED, flag_record, is_quarantined, received, refusal,
                                  sent)
from app.spam.rules import Verdict
from app.spam.windows import (LATE, close_windows, count_event, forget_decided, new_coordinator_state,
                              new_decided_state, new_partition_state, receive_summary, suspects)
from tables.spam import (COORDINATOR_KEY, spam_coordinator, spam_decided, spam_partitions, spam_quarantine,
                         spam_windows)

settings = get_settings()
WINDOW_MS = settings.spam_window_s * 1000
GRACE_MS = settings.spam_late_grace_s * 1000
FLAG_CODEC = codec_for("UserFlag", settings.topic("user-flags"))
THRESHOLDS_TOPIC = settings.topic("spam-thresholds")


def read_json(message: Any) -> dict[str, Any]:
    """An internal JSON record, or the ``DecodeError`` that dead-letters it."""
    try:
        value = json.loads(message.value)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"not a JSON record: {exc}") from exc
    if not isinstance(value, dict):
        raise DecodeError("not a JSON object")
    return value


class Counter:
    """The spam side of one batch of ``ingest_events``: rows read once, counted in memory, then written back."""

    def __init__(self) -> None:
        self.parts: dict[bytes, dict[str, Any]] = {}
        self.users: dict[bytes, dict[str, Any]] = {}
        self.summaries: list[dict[str, Any]] = []

    def part(self, partition: int) -> dict[str, Any]:
        key = str(partition).encode()
        if key not in self.parts:
            part = spam_partitions.get(key) or new_partition_state()
            forget_decided(part, (spam_decided.get(key) or new_decided_state())["decided_until"])
            self.parts[key] = part
        return self.parts[key]

    def rate(self, message: Any, event: RateEvent, now_ms: int) -> None:
        key = user_key(event.user_id)
        user = self.users.get(key) or spam_windows.get(key) or {"windows": {}}
        self.users[key] = user
        stream, offset = origin(message)
        if count_event(self.part(message.partition), user, event.user_id, event.ts, stream, offset,
                       WINDOW_MS, settings.spam_floor, now_ms) == LATE:
            SPAM_LATE_EVENTS.inc()

    def close(self) -> None:
        for key, part in self.parts.items():
            summary = close_windows(part, WINDOW_MS, GRACE_MS)
            if summary is not None:
                self.summaries.append({"partition": int(key), **summary})

    async def finish(self) -> None:
        """Send the closed windows' summaries, then write the rows (a crash replays into the same sends)."""
        for summary in self.summaries:
            await topics.spam_summaries.send(key=COORDINATOR_KEY, value=json.dumps(summary).encode())
        for table, rows in ((spam_partitions, self.parts), (spam_windows, self.users)):
            for key, row in rows.items():
                table[key] = row


async def count_ratings(ratings: Iterable[tuple[Any, RateEvent]], now_ms: int) -> None:
    """Count valid ratings, each on the partition owning its user, in the order they were read.

    ``ingest_events`` calls it with its batch's ratings, so they pass through Faust once. Every
    rating counts, a replayed or rate-limited one too: the partition's offsets skip replays,
    and a spammer held back by the rate limit is still a spammer.
    """
    counter = Counter()
    for message, event in ratings:
        counter.rate(message, event, now_ms)
    counter.close()
    await counter.finish()


class Decider:
    """One batch of ``detect_spam``: thresholds flag suspects, flags fold into the quarantine."""

    def __init__(self) -> None:
        self.decisions: dict[bytes, dict[str, Any]] = {}
        self.quarantine: dict[bytes, dict[str, Any] | None] = {}
        self.flags: list[dict[str, Any]] = []

    def quarantine_row(self, key: bytes) -> dict[str, Any] | None:
        if key not in self.quarantine:
            self.quarantine[key] = spam_quarantine.get(key)
        return self.quarantine[key]

    def threshold(self, message: Any) -> None:
        try:
            decided = Verdict(**read_json(message))
        except TypeError as exc:
            raise DecodeError(f"not a spam threshold: {exc}") from exc
        SPAM_THRESHOLD.set(decided.threshold)
        key = str(message.partition).encode()
        if key not in self.decisions:
            self.decisions[key] = spam_decided.get(key) or new_decided_state()
        part = spam_partitions.get(key) or new_partition_state()  # read only: ingest_events writes it
        for user_id, count in suspects(part, self.decisions[key], decided):
            user = user_key(user_id)
            action = FLAGGED if is_quarantined(self.quarantine_row(user)) else QUARANTINED
            flag = flag_record(user_id, action, count, decided)
            self.quarantine[user] = sent(self.quarantine_row(user), flag)
            self.flags.append(flag)

    def flag(self, message: Any) -> None:
        flag = FLAG_CODEC.decode(message.value)
        reason = refusal(flag, message.partition, settings.partitions)
        if reason:
            raise InvalidEvent(reason)
        key = user_key(flag["user_id"])
        row = received(self.quarantine_row(key), flag, message.offset)
        if row is not None:  # else a replay
            self.quarantine[key] = row
            SPAM_FLAGS.labels(flag["action"]).inc()

    async def finish(self) -> None:
        """Send the flags the batch decided, then write its rows (a crash replays into the same sends)."""
        for flag in self.flags:
            await topics.user_flags.send(key=user_key(flag["user_id"]), value=FLAG_CODEC.encode(flag))
        for table, rows in ((spam_decided, self.decisions), (spam_quarantine, self.quarantine)):
            for key, row in rows.items():
                if row is not None:
                    table[key] = row


async def detect(batch: Sequence[EventT]) -> None:
    """Apply one batch of thresholds and flags."""
    decider = Decider()
    for event in batch:
        message = event.message
        try:
            if message.topic == THRESHOLDS_TOPIC:
                decider.threshold(message)
            else:
                decider.flag(message)
        except BadEvent as exc:
            await send_dead_letter(message, exc)
    await decider.finish()


@app.agent(topics.spam_sources)
async def detect_spam(stream: Any) -> None:
    """Flags on decided windows, the quarantine table."""
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await detect(batch)


async def merge(batch: Sequence[EventT]) -> None:
    """Merge one batch of summaries; send each decided threshold to every partition, then write the row once.

    A crash before the row is written replays the batch into the same verdicts, which the
    partitions skip (``suspects``).
    """
    state = spam_coordinator.get(COORDINATOR_KEY) or new_coordinator_state()
    for event in batch:
        try:
            summary = read_json(event.message)
            verdicts = receive_summary(state, int(summary["partition"]), summary, settings.partitions,
                                       WINDOW_MS, settings.spam_floor, settings.spam_min_population)
        except (BadEvent, KeyError, TypeError, ValueError) as exc:
            await send_dead_letter(event.message, exc if isinstance(exc, BadEvent)
                                   else DecodeError(f"not a spam summary: {exc!r}"))
            continue
        for decided in verdicts:
            value = json.dumps(decided.as_dict()).encode()
            for partition in range(settings.partitions):
                await topics.spam_thresholds.send(key=str(decided.window_start).encode(), value=value,
                                                  partition=partition)
    spam_coordinator[COORDINATOR_KEY] = state


@app.agent(topics.spam_summaries)
async def merge_spam_summaries(stream: Any) -> None:
    """The coordinator: merge partitions' histograms; send each decided threshold to every partition."""
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await merge(batch)


def quarantined_here() -> int:
    """Quarantined users on the partitions this worker owns (standby rows left out)."""
    changelog = spam_quarantine.changelog_topic.get_topic_name()
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}
    return sum(1 for key, row in spam_quarantine.items()
               if is_quarantined(row) and partition_of(key, settings.partitions) in owned)


SPAM_QUARANTINED.set_function(quarantined_here)
