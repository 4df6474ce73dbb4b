"""The replay progress behind a worker's readiness: caught up only at the end offsets taken at its start."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from agents.broadcast import CatchUp, follow
from app.settings import Settings
from bench.serving_peers import delete_topics
from tests.kafka_tools import create_topics


def test_not_caught_up_before_the_follower_has_started():
    progress = CatchUp()
    assert not progress.caught_up and progress.as_dict() == {"caught_up": False, "behind": None}


def test_caught_up_once_every_partition_reaches_its_start_end_offset():
    progress = CatchUp()
    progress.start({0: 10, 1: 4})
    progress.advance({0: 3, 1: 4})
    assert not progress.caught_up and progress.behind == 7
    progress.advance({0: 10, 1: 4})
    assert progress.caught_up and progress.as_dict() == {"caught_up": True, "behind": 0}


def test_records_produced_after_the_start_do_not_hold_readiness_back_and_it_never_goes_back():
    progress = CatchUp()
    progress.start({0: 5})
    progress.advance({0: 12})  # read past the start's end: newer records
    assert progress.caught_up
    progress.advance({0: 0})  # a later reading is ignored: readiness is not withdrawn
    assert progress.caught_up


def test_an_empty_topic_is_caught_up_at_once():
    progress = CatchUp()
    progress.start({0: 0, 1: 0})
    progress.advance({0: 0, 1: 0})
    assert progress.caught_up


@pytest.mark.kafka
@pytest.mark.timeout(60)
async def test_a_follower_starts_at_its_time_or_at_the_end_and_counts_what_came_before(kafka_bootstrap: str) -> None:
    """Partition 0 has records before and after ``since``, partition 1 only before: 1 starts at its end."""
    topic = f"follow-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    await create_topics(kafka_bootstrap, [topic], partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    now = int(time.time() * 1000)
    try:
        for partition, offset_ts in ((0, now - 60_000), (1, now - 60_000), (0, now - 1_000), (0, now)):
            await producer.send_and_wait(topic, f"{partition}@{offset_ts}".encode(), partition=partition,
                                         timestamp_ms=offset_ts)
        seen: list[bytes] = []

        async def handler(records: list) -> None:
            seen.extend(record.value for record in records)

        progress = CatchUp()
        follower = asyncio.ensure_future(follow(settings, topic, handler, since_ms=now - 5_000, progress=progress))
        while not progress.caught_up:
            assert not follower.done(), follower.exception()
            await asyncio.sleep(0.05)
        await producer.send_and_wait(topic, b"1@later", partition=1)
        while len(seen) < 3:
            await asyncio.sleep(0.05)
        follower.cancel()
        assert seen == [f"0@{now - 1_000}".encode(), f"0@{now}".encode(), b"1@later"]
        assert progress.ends == {TopicPartition(topic, 0): 3, TopicPartition(topic, 1): 1}
    finally:
        await producer.stop()
        await delete_topics(kafka_bootstrap, topic)
