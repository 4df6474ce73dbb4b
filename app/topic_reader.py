"""Reading a topic from outside the worker: its partitions, and its records up to the end now.

The CLI (rollout status, the fairness report, the catalog for training), the trending and
deployment followers and the tests read topics this way: an assigned consumer in no group,
so nothing is committed and no worker's group rebalances.
"""
from __future__ import annotations

import asyncio
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.kafka_security import client_kwargs
from app.settings import Settings


class TopicRead(NamedTuple):
    """The records read, and the end offsets they were read up to (for a data manifest)."""

    records: list[ConsumerRecord]
    ends: dict[TopicPartition, int]


async def partitions_of(settings: Settings, topic: str, wait: bool = False) -> list[int]:
    """The partition ids of ``topic``: none when it does not exist, unless ``wait`` polls
    until it does (a worker starting beside us may still be creating it)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        while True:
            (described,) = await admin.describe_topics([topic])
            if described.get("partitions") or not wait:
                return sorted(p["partition"] for p in described.get("partitions") or ())
            await asyncio.sleep(1.0)
    finally:
        await admin.close()


async def read_to_end(settings: Settings, topic: str, timeout_s: float = 30.0, since_ms: int | None = None,
                      wait: bool = False) -> TopicRead:
    """Every record of ``topic`` from the beginning (or from ``since_ms``) up to its end
    offsets at the start of the read; records written meanwhile are left out, so the result
    is one consistent cut. ``TimeoutError`` after ``timeout_s`` in all."""
    async with asyncio.timeout(timeout_s):
        tps = [TopicPartition(topic, p) for p in await partitions_of(settings, topic, wait)]
        if not tps:
            return TopicRead([], {})
        consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            if since_ms is None:
                starts = await consumer.beginning_offsets(tps)
            else:
                found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
                starts = {tp: found[tp].offset if found[tp] else ends[tp] for tp in tps}
            for tp in tps:  # explicit offsets: a lazy seek_to_beginning can lose to the assign's reset
                consumer.seek(tp, starts[tp])
            records: list[ConsumerRecord] = []
            pending = {tp for tp in tps if starts[tp] < ends[tp]}
            while pending:
                for tp, batch in (await consumer.getmany(*pending, timeout_ms=500)).items():
                    records.extend(r for r in batch if r.offset < ends[tp])
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return TopicRead(records, ends)
        finally:
            await consumer.stop()
