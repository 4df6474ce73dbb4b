"""Spam agents: count ratings per user and window, merge partitions' counts, flag and quarantine.

``detect_spam`` reads, co-partitioned, the rate topics (counting), ``spam-thresholds`` (a
decided window: flag its suspects) and ``user-flags`` (the quarantine table is the fold of
that topic), so one agent alone writes each partition's spam rows. ``merge_spam_summaries``
is the coordinator on the single partition of ``spam-summaries``. The rules are in
``app.spam``; these agents only route events and keep rows.
"""
from __future__ import annotations

import json
import time
from typing import Any, Sequence

from faust.types import EventT

from agents import topics
from agents.dead_letters import send_dead_letter
from agents.ingest import RATE, read_event
from agents.reroute import origin
from app import app
from app.exceptions import BadEvent, DecodeError, InvalidEvent
from app.metrics import SPAM_FLAGS, SPAM_LATE_EVENTS, SPAM_QUARANTINED, SPAM_THRESHOLD
from app.partitioning import partition_of, user_key
from app.schema_registry import codec_for
from app.settings import get_settings
from app.spam.quarantine import (FLAGGED, QUARANTINED, flag_record, is_quarantined, received, refusal,
                                  sent)
from app.spam.rules import Verdict
from app.spam.windows import (LATE, close_windows, count_event, new_coordinator_state,
                              new_partition_state, receive_summary, suspects)
from tables.spam import COORDINATOR_KEY, spam_coordinator, spam_partitions, spam_quarantine, spam_windows

settings = get_settings()
WINDOW_MS = settings.spam_window_s * 1000
GRACE_MS = settings.spam_late_grace_s * 1000
FLAG_CODEC = codec_for("UserFlag", settings.topic("user-flags"))
RATE_TOPICS = {settings.topic("rate"), settings.topic("rate-rerouted")}
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


class Detector:
    """One batch of ``detect_spam``: rows read once, changed in memory, then sent and written back."""

    def __init__(self) -> None:
        self.parts: dict[bytes, dict[str, Any]] = {}
        self.users: dict[bytes, dict[str, Any]] = {}
        self.quarantine: dict[bytes, dict[str, Any] | None] = {}
        self.summaries: list[dict[str, Any]] = []
        self.flags: list[dict[str, Any]] = []

    def part(self, partition: int) -> dict[str, Any]:
        key = str(partition).encode()
        if key not in self.parts:
            self.parts[key] = spam_partitions.get(key) or new_partition_state()
        return self.parts[key]

    def quarantine_row(self, key: bytes) -> dict[str, Any] | None:
        if key not in self.quarantine:
            self.quarantine[key] = spam_quarantine.get(key)
        return self.quarantine[key]

    def rate(self, message: Any, now_ms: int) -> None:
        event = read_event(RATE, message.value, now_ms)
        key = user_key(event.user_id)
        if partition_of(key, settings.partitions) != message.partition:
            return  # ingest moves it to the owning partition, where it is counted
        user = self.users.get(key) or spam_windows.get(key) or {"windows": {}}
        self.users[key] = user
        stream, offset = origin(message)
        if count_event(self.part(message.partition), user, event.user_id, event.ts, stream, offset,
                       WINDOW_MS, settings.spam_floor, now_ms) == LATE:
            SPAM_LATE_EVENTS.inc()

    def threshold(self, message: Any) -> None:
        try:
            decided = Verdict(**read_json(message))
        except TypeError as exc:
            raise DecodeError(f"not a spam threshold: {exc}") from exc
        SPAM_THRESHOLD.set(decided.threshold)
        for user_id, count in suspects(self.part(message.partition), decided):
            key = user_key(user_id)
            action = FLAGGED if is_quarantined(self.quarantine_row(key)) else QUARANTINED
            flag = flag_record(user_id, action, count, decided)
            self.quarantine[key] = sent(self.quarantine_row(key), flag)
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

    def close(self) -> None:
        for key, part in self.parts.items():
            summary = close_windows(part, WINDOW_MS, GRACE_MS)
            if summary is not None:
                self.summaries.append({"partition": int(key), **summary})

    async def finish(self) -> None:
        """Send what the batch decided, then write its rows (a crash replays into the same sends)."""
        for summary in self.summaries:
            await topics.spam_summaries.send(key=COORDINATOR_KEY, value=json.dumps(summary).encode())
        for flag in self.flags:
            await topics.user_flags.send(key=user_key(flag["user_id"]), value=FLAG_CODEC.encode(flag))
        for table, rows in ((spam_partitions, self.parts), (spam_windows, self.users),
                            (spam_quarantine, self.quarantine)):
            for key, row in rows.items():
                if row is not None:
                    table[key] = row


async def detect(batch: Sequence[EventT]) -> None:
    """Apply one batch of ratings, thresholds and flags."""
    now_ms = int(time.time() * 1000)
    detector = Detector()
    for event in batch:
        message = event.message
        try:
            if message.topic in RATE_TOPICS:
                detector.rate(message, now_ms)
            elif message.topic == THRESHOLDS_TOPIC:
                detector.threshold(message)
            else:
                detector.flag(message)
        except BadEvent as exc:
            if message.topic not in RATE_TOPICS:  # ingest dead-letters bad ratings
                await send_dead_letter(message, exc)
    detector.close()
    await detector.finish()


@app.agent(topics.spam_sources)
async def detect_spam(stream: Any) -> None:
    """Per-user window counts, flags on decided windows, the quarantine table."""
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await detect(batch)


@app.agent(topics.spam_summaries)
async def merge_spam_summaries(stream: Any) -> None:
    """The coordinator: merge partitions' histograms; send each decided threshold to every partition."""
    async for event in stream.events():
        try:
            summary = read_json(event.message)
            state = spam_coordinator.get(COORDINATOR_KEY) or new_coordinator_state()
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


def quarantined_here() -> int:
    """Quarantined users on the partitions this worker owns (standby rows left out)."""
    changelog = spam_quarantine.changelog_topic.get_topic_name()
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}
    return sum(1 for key, row in spam_quarantine.items()
               if is_quarantined(row) and partition_of(key, settings.partitions) in owned)


SPAM_QUARANTINED.set_function(quarantined_here)
