"""HTTP answers: traced at once, sent to Kafka in the background by a producer of their own.

An HTTP client has its answer before anything reaches Kafka. The answer's two records, its
``traces`` changelog row and its ``reco-responses`` copy, are sent in bursts, every
``MOVIE_RECS_HTTP_PUBLISH_INTERVAL_MS``, through a producer of their own: sent back to back,
a burst's records for all partitions leave in one produce request. Sent one by one through
Faust's producer, every answer cost produce requests of its own, most of the worker's CPU
per answer (a producer's linger does not help: it times each partition's batch apart).
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer

from agents.recommend import RESPONSE, trace_row
from app import app
from app.kafka_security import client_kwargs
from app.metrics import UNPUBLISHED_ANSWERS
from app.settings import get_settings
from tables import trace_key, traces

settings = get_settings()
log = logging.getLogger(__name__)
Pending = tuple[int, bytes, bytes, dict[str, Any]]


def _count_failure(sent: asyncio.Future) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        UNPUBLISHED_ANSWERS.inc()
        log.warning("an HTTP answer's record was not delivered: %s", sent.exception())


class HttpAnswers:
    """What the HTTP view answered, waiting for Kafka; bounded, the oldest dropped and counted."""

    def __init__(self, limit: int, interval_s: float) -> None:
        self._pending: deque[Pending] = deque()
        self._limit = limit
        self._interval_s = interval_s
        self._ready = asyncio.Event()

    def add(self, result: dict[str, Any], request: dict[str, Any], partition: int, history_length: int) -> None:
        """Trace an answer given on ``partition`` (its user's, owned here) and queue its records.

        The row is readable at ``/trace`` at once; its changelog row, sent by our producer,
        makes it durable, as ``traces.put`` would through Faust's.
        """
        key = trace_key(partition, result["request_id"])
        row = traces.put_local(key, trace_row(result, request, history_length))
        if len(self._pending) >= self._limit:
            self._pending.popleft()
            UNPUBLISHED_ANSWERS.inc()
        self._pending.append((partition, key, row, result))
        self._ready.set()

    async def run(self, producer: AIOKafkaProducer) -> None:
        """Send what is queued, a burst at a time, for ever (no send waits, so none splits a burst)."""
        changelog = traces.changelog_topic.get_topic_name()
        responses = settings.topic("reco-responses")
        while True:
            await self._ready.wait()
            await asyncio.sleep(self._interval_s)
            self._ready.clear()
            while self._pending:
                partition, key, row, result = self._pending.popleft()
                for sent in (
                    await producer.send(changelog, row, key=key, partition=partition),
                    await producer.send(responses, RESPONSE.encode(result), key=result["request_id"].encode()),
                ):
                    sent.add_done_callback(_count_failure)


http_answers = HttpAnswers(settings.http_publish_backlog, settings.http_publish_interval_ms / 1000)


@app.task
async def publish_http_answers() -> None:
    """Send the HTTP answers' records while the worker runs; what is queued at stop is flushed."""
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await http_answers.run(producer)
    finally:
        await producer.stop()
