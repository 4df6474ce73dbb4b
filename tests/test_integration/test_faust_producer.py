"""The app's Faust producer (app.faust_producer) against the real broker: a topic that exists is not
declared again, and every declared topic's partitions are known to the producer (Faust's router needs them)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers import aiokafka as faust_aiokafka

from app.faust_app import create_app
from app.faust_producer import Producer
from app.partitioning import partition_of
from app.settings import Settings
from tests.kafka_tools import create_topics

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def declare(bootstrap: str, existing: str, new: str) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Declare both topics with the app's producer.

    The names Faust's own declaration saw, the partitions the broker has, and the partition
    the producer's partitioner gives a key in each topic (what Faust's router asks it).
    """
    await create_topics(bootstrap, [existing], 3)
    app = create_app(Settings(kafka_bootstrap=bootstrap, app_id=f"t-declare-{uuid.uuid4().hex[:8]}"))
    producer = app.producer
    assert isinstance(producer, Producer)
    await producer.start()
    declared = []
    real = faust_aiokafka.Producer.create_topic

    async def spy(self: Producer, topic: str, *args: object, **kwargs: object) -> None:
        declared.append(topic)
        await real(self, topic, *args, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(faust_aiokafka.Producer, "create_topic", spy)
            routed = {}
            # the existing topic first, as at a restart, when every topic exists and none is created
            for topic in (existing, existing, new, new):
                await producer.create_topic(topic, partitions=2, replication=1)
                routed[topic] = producer.key_partition(topic, b"user-7").partition
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([existing, new])
    finally:
        await admin.close()
    return declared, {d["topic"]: len(d["partitions"]) for d in described}, routed


def test_declares_only_topics_the_cluster_lacks(kafka_bootstrap: str) -> None:
    prefix = f"t-declare-{uuid.uuid4().hex[:8]}-"
    declared, partitions, routed = asyncio.run(declare(kafka_bootstrap, prefix + "old", prefix + "new"))
    assert declared == [prefix + "new"]  # the existing one never, the new one once
    assert partitions == {prefix + "old": 3, prefix + "new": 2}
    # Kafka's murmur2 partitioner over each topic's own partition count, with nothing ever sent to either
    assert routed == {prefix + "old": partition_of(b"user-7", 3), prefix + "new": partition_of(b"user-7", 2)}
