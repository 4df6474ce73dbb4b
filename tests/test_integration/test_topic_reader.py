"""``app.topic_reader`` against the real broker: every record once, a cut at the end offsets, ``since_ms``."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from app.settings import Settings
from app.topic_reader import read_to_end
from tests.kafka_tools import create_topics

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def produce(bootstrap: str, topic: str, values: range, ts_ms: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, str(value).encode(), partition=value % 3, timestamp_ms=ts_ms)
    finally:
        await producer.stop()


def test_reads_every_record_once_up_to_the_end_offsets_and_from_a_time(kafka_bootstrap: str) -> None:
    topic = f"t-reader-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap=kafka_bootstrap)

    async def scenario() -> None:
        await create_topics(kafka_bootstrap, [topic], 3)
        now_ms = int(time.time() * 1000)  # recent: retention would delete older records at once
        await produce(kafka_bootstrap, topic, range(0, 30), ts_ms=now_ms - 60_000)
        await produce(kafka_bootstrap, topic, range(30, 45), ts_ms=now_ms)

        read = await read_to_end(settings, topic, 30.0)
        assert sorted(int(r.value) for r in read.records) == list(range(45))
        assert {tp.partition: end for tp, end in read.ends.items()} == {0: 15, 1: 15, 2: 15}

        later = await read_to_end(settings, topic, 30.0, since_ms=now_ms - 30_000)
        assert sorted(int(r.value) for r in later.records) == list(range(30, 45))

    asyncio.run(scenario())
