"""Consumer lag: the arithmetic, the last-known value when a reading fails, and the real broker."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from app.observability.lag import BrokerOffsets, LagMonitor, lag_by_partition
from app.settings import Settings
from tests.kafka_tools import create_topics, free_port

pytestmark = pytest.mark.timeout(60)
A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_lag_is_end_minus_committed_never_negative_and_only_for_known_partitions() -> None:
    assert lag_by_partition({A0: 10, A1: 4, B0: 7}, {A0: 3, A1: 6}) == {A0: 7, A1: 0}
    assert lag_by_partition({A0: 10}, {A0: 3, B0: 1}) == {A0: 7}


class FakeOffsets:
    """Offsets that can be told to fail, as a broker that went away does."""

    def __init__(self) -> None:
        self.ends = {A0: 10, A1: 5}
        self.commits = {A0: 4, A1: 5}
        self.failing = False
        self.closed = 0

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        if self.failing:
            raise ConnectionError("broker away")
        return dict(self.commits)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in tps}

    async def close(self) -> None:
        self.closed += 1


async def test_a_failed_reading_keeps_the_last_value_and_flags_it_stale() -> None:
    group = f"g-{uuid.uuid4().hex[:6]}"
    source = FakeOffsets()
    monitor = LagMonitor(source, [group], timeout_s=1.0)
    assert gauge("movierecs_consumer_lag_stale", group=group) == 1  # nothing read yet
    await monitor.refresh()
    assert gauge("movierecs_consumer_lag", group=group, topic="a", partition="0") == 6
    assert gauge("movierecs_consumer_lag", group=group, topic="a", partition="1") == 0
    assert gauge("movierecs_consumer_lag_stale", group=group) == 0
    source.failing, source.ends = True, {A0: 50, A1: 50}
    await monitor.refresh()
    assert gauge("movierecs_consumer_lag", group=group, topic="a", partition="0") == 6
    assert gauge("movierecs_consumer_lag_stale", group=group) == 1
    shown = monitor.as_dict()[group]
    assert shown["stale"] and shown["total"] == 6 and "broker away" in shown["error"] and source.closed == 1
    source.failing = False
    await monitor.refresh()
    assert gauge("movierecs_consumer_lag", group=group, topic="a", partition="0") == 46
    assert gauge("movierecs_consumer_lag_stale", group=group) == 0 and monitor.as_dict()[group]["error"] is None


async def test_a_hung_reading_times_out_as_stale() -> None:
    class Hung(FakeOffsets):
        async def committed(self, group: str) -> dict[TopicPartition, int]:
            await asyncio.sleep(30)
            return {}
    group = f"g-{uuid.uuid4().hex[:6]}"
    monitor = LagMonitor(Hung(), [group], timeout_s=0.2)
    await monitor.refresh()
    assert monitor.as_dict()[group]["stale"] and "TimeoutError" in monitor.as_dict()[group]["error"]


@pytest.mark.kafka
async def test_lag_read_from_the_real_broker_and_stale_when_it_is_unreachable(kafka_bootstrap: str) -> None:
    topic, group = f"lag-{uuid.uuid4().hex[:8]}", f"lag-group-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka_bootstrap, [topic], 2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, b"x", partition=0)
        for i in range(3):
            await producer.send_and_wait(topic, b"y", partition=1)
    finally:
        await producer.stop()
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        await committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, ""),
                                TopicPartition(topic, 1): OffsetAndMetadata(3, "")})
    finally:
        await committer.stop()
    source = BrokerOffsets(Settings(kafka_bootstrap=kafka_bootstrap))
    monitor = LagMonitor(source, [group], timeout_s=10.0)
    try:
        await monitor.refresh()
        assert gauge("movierecs_consumer_lag", group=group, topic=topic, partition="0") == 3
        assert gauge("movierecs_consumer_lag", group=group, topic=topic, partition="1") == 0
        assert gauge("movierecs_consumer_lag_stale", group=group) == 0
    finally:
        await source.close()
    away = LagMonitor(BrokerOffsets(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", lag_timeout_s=2.0)),
                      [group], timeout_s=2.0)
    away.groups[group] = monitor.groups[group]  # the reading a worker had before its broker left
    await away.refresh()
    assert gauge("movierecs_consumer_lag_stale", group=group) == 1
    assert gauge("movierecs_consumer_lag", group=group, topic=topic, partition="0") == 3
    await away.source.close()
