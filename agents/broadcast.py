"""Reading a topic on every worker: no consumer group, every partition, from a point in time.

Faust agents share a topic's partitions across the group; a worker that must see every
record (deployment decisions, the interactions behind trending popularity) reads with its
own group-less consumer instead.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.kafka_security import client_kwargs
from app.settings import Settings

log = logging.getLogger(__name__)
Handler = Callable[[list[Any]], Awaitable[None]]


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The partitions of ``topic``, waiting while the worker is still creating it."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        while True:
            (described,) = await admin.describe_topics([topic])
            if described.get("partitions"):
                return sorted(p["partition"] for p in described["partitions"])
            await asyncio.sleep(1.0)
    finally:
        await admin.close()


async def follow(settings: Settings, topic: str, handler: Handler, since_ms: int | None,
                 caught_up: Optional[Callable[[], Any]] = None) -> None:
    """Hand every record of ``topic`` from ``since_ms`` on (None: only new ones) to ``handler``.

    ``caught_up`` is called once, when every record that was in the topic at the start has
    been handed over (at once for an empty topic).
    """
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(settings, topic)]
        consumer.assign(tps)
        if since_ms is None:
            await consumer.seek_to_end(*tps)
        else:
            starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
            for tp in tps:
                if starts[tp] is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, starts[tp].offset)
        ends = await consumer.end_offsets(tps) if caught_up is not None else {}
        while True:
            if ends and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                ends = {}
                caught_up()
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                try:
                    await handler(records)
                except Exception:  # a bad record must not stop this worker from following
                    log.exception("handler for %s failed on %d records", topic, len(records))
    finally:
        await consumer.stop()
