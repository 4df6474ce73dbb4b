"""Answer records: every answer's trace row, and the ``reco-responses`` copy of HTTP answers.

The trace row is readable at ``/trace`` at once. Its changelog row, and for an HTTP answer
the ``reco-responses`` copy nobody waits for, are sent in bursts every
``MOVIE_RECS_ANSWER_RECORDS_INTERVAL_MS`` by a producer of their own: sent back to back, a
burst's records for all partitions leave in one produce request. Sent one by one through
Faust's producer, every answer cost produce requests of its own, most of the worker's CPU
per answer (a producer's linger does not help: it times each partition's batch apart).
A Kafka client's answer goes out at once through Faust's producer instead, which is
flushed before the request's offset is committed.

The rollout figures of an answer are kept here too, on the user's partition: the arm's counts
(``arm_stats``) and the served list waiting for a conversion (``pending_conversions``). Their
changelog rows leave with the same bursts, so every row of a key is sent by one producer, in
the order it was written.

So is its exposure: a served list is folded into its arm's window here, and what was folded
goes to ``exposure-deltas`` every ``MOVIE_RECS_EXPOSURE_FLUSH_INTERVAL_S`` and at stop
(``agents.exposure``), instead of the worker reading ``reco-responses`` back: that was one
more fetched topic and one more Faust event per answer. A repeated request id is not counted
again. Like the trace rows, the counts are no longer replay-safe: a worker that dies loses
the exposure folded since its last flush, and a request it answered but did not commit is
counted again by whoever answers it next, unless its trace row had reached Kafka.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Optional

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from agents import topics
from app import app
from app.kafka_security import client_kwargs
from app.observability.tracing import Headers
from app.metrics import ANSWER_SECONDS, ANSWERS, SERVED_LISTS, UNRECORDED_ANSWERS
from app.partitioning import partition_of, user_key
from app.rollout import conversions, stats
from app.schema_registry import codec_for
from app.serving import EXPLORATION, Answer
from app.settings import get_settings
from tables import arm_stats, pending_conversions, trace_key, traces, user_history
from tables.exposure import ExposureFold

settings = get_settings()
RESPONSE = codec_for("RecoResponse", settings.topic("reco-responses"))
log = logging.getLogger(__name__)
Pending = tuple[int, bytes, bytes, Optional[dict[str, Any]], Optional[Headers]]
WINDOW_MS = int(settings.conversion_window_s * 1000)


def _count_failure(sent: asyncio.Future) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        UNRECORDED_ANSWERS.inc()
        log.warning("an answer's record was not delivered: %s", sent.exception())


class AnswerRecords:
    """Answers' records waiting for Kafka; bounded, the oldest dropped and counted."""

    def __init__(self, limit: int, interval_s: float, window_s: float) -> None:
        self.exposure = ExposureFold(window_s)
        self._pending: deque[Pending] = deque()
        self._rows: deque[tuple[str, int, bytes, Optional[bytes]]] = deque()
        self._limit = limit
        self._interval_s = interval_s
        self._ready = asyncio.Event()

    def add(self, result: dict[str, Any], request: dict[str, Any], partition: int, *, via: str,
            answered: Answer | None = None, headers: Headers | None = None) -> None:
        """Count and trace an answer given on ``partition`` (its user's, owned here); queue its records.

        The trace keeps the length of the user's live history at serve time and the trial
        of the arm that answered.

        ``via`` is ``http`` or ``kafka``: an HTTP answer's ``reco-responses`` copy is queued
        too (with the trace context in ``headers``), while a Kafka client's answer is sent at
        once by the agent. ``answered`` (what ``agents.recommend.serve`` returns) adds the
        answer to its arm's figures and its list to the user's pending conversions; a repeated
        request id adds nothing. A list served is folded into the exposure and the exploration
        sampler's trials.
        """
        arm = result["arm"] or "none"
        ANSWERS.labels(via, result["strategy"] or "none", str(result["status"]), arm).inc()
        ANSWER_SECONDS.labels(via, result["strategy"] or "none", arm).observe(result["latency_ms"] / 1000.0)
        if result["status"] == 200 and not (answered is not None and answered.repeat):
            SERVED_LISTS.labels(arm).inc()
            if self.exposure.add(result):
                EXPLORATION.expose(result["movie_ids"])
        key = trace_key(partition, result["request_id"])
        state = user_history.get(user_key(result["user_id"])) if result["user_id"] > 0 else None
        trial = answered.arm.trial if answered is not None and answered.arm is not None else ""
        row = traces.keep(key, {"request": request, "response": result, "trial": trial,
                                "history_length": len(state["recent"]) if state else 0,
                                "recorded_at": int(time.time() * 1000)})
        if len(self._pending) >= self._limit:
            self._pending.popleft()
            UNRECORDED_ANSWERS.inc()
        self._pending.append((partition, key, row, result if via == "http" else None, headers))
        if answered is not None and not answered.repeat:
            self._figures(answered, result, partition)
        self._ready.set()

    def _figures(self, answered: Answer, result: dict[str, Any], partition: int) -> None:
        for arm, latency_ms in answered.failed:
            stats.record_answer(arm_stats.row(partition, arm.trial, arm.name, *arm.deployed.key), latency_ms, ok=False)
        arm = answered.arm
        if arm is None:
            return
        stats.record_answer(arm_stats.row(partition, arm.trial, arm.name, *arm.deployed.key), result["latency_ms"],
                            ok=True)
        if result["movie_ids"]:
            row = pending_conversions.append(user_key(result["user_id"]), conversions.pending_entry(result, arm.trial),
                                             result["ts"], WINDOW_MS)
            self.changelog(pending_conversions.changelog_topic.get_topic_name(), *row)

    def flush_exposure(self) -> None:
        """Queue the exposure folded since the last flush, one delta per arm and window, for the next burst."""
        topic = topics.exposure_deltas
        for (arm, start), row in self.exposure.take().items():
            key = topic.prepare_key(arm, None)[0]
            value = topic.prepare_value({"arm": arm, "window_start": start, **row}, None)[0]
            self.changelog(topic.get_topic_name(), partition_of(key, settings.partitions), key, value)

    def changelog(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue a table changelog row (None: a tombstone), or an exposure delta, for the next burst."""
        if len(self._rows) >= self._limit:
            self._rows.popleft()
            UNRECORDED_ANSWERS.inc()
        self._rows.append((topic, partition, key, value))
        self._ready.set()

    async def run(self, producer: AIOKafkaProducer) -> None:
        """Send what is queued, a burst at a time, for ever."""
        while True:
            await self._ready.wait()
            await asyncio.sleep(self._interval_s)
            self._ready.clear()
            await self.drain(producer)

    async def drain(self, producer: AIOKafkaProducer) -> None:
        """Send everything queued (no send waits, so none splits a burst); a record Kafka
        refuses is counted and logged, and the rest still go."""
        changelog = traces.changelog_topic.get_topic_name()
        responses = settings.topic("reco-responses")
        while self._pending:
            partition, key, row, result, headers = self._pending.popleft()
            try:
                sent = [await producer.send(changelog, row, key=key, partition=partition)]
                if result is not None:
                    sent.append(await producer.send(responses, RESPONSE.encode(result),
                                                    key=result["request_id"].encode(), headers=headers))
            except KafkaError as exc:
                UNRECORDED_ANSWERS.inc()
                log.warning("an answer's record could not be sent: %s", exc)
                continue
            for future in sent:
                future.add_done_callback(_count_failure)
        while self._rows:
            topic, partition, key, value = self._rows.popleft()
            try:
                sent = await producer.send(topic, value, key=key, partition=partition)
            except KafkaError as exc:
                UNRECORDED_ANSWERS.inc()
                log.warning("a table row could not be sent: %s", exc)
                continue
            sent.add_done_callback(_count_failure)


answer_records = AnswerRecords(settings.answer_records_backlog, settings.answer_records_interval_ms / 1000,
                               settings.fairness_window_s)


@app.task
async def send_answer_records() -> None:
    """Send the answers' records while the worker runs; what is queued or folded at stop goes too."""
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await answer_records.run(producer)
    finally:
        answer_records.flush_exposure()
        await answer_records.drain(producer)
        await producer.stop()
