"""The local broker from docker/kafka/local-kafka.sh: its health probe, and a round trip."""
from __future__ import annotations

import asyncio
import os
import subprocess
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.kafka_tools import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]

SCRIPT = REPO / "docker" / "kafka" / "local-kafka.sh"


def test_status_exits_zero_when_broker_is_up(kafka_bootstrap: str) -> None:
    host, _, port = kafka_bootstrap.split(",")[0].rpartition(":")
    env = {**os.environ, "MOVIE_RECS_KAFKA_HOST": host, "MOVIE_RECS_KAFKA_PORT": port}
    done = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_produced_message_is_consumed_and_committed(kafka_bootstrap: str) -> None:
    topic, group = f"local-kafka-{uuid.uuid4().hex[:8]}", f"local-kafka-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=8, replication_factor=1)])

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, key=b"42", value=b"hello")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    # A topic created a moment ago can be missing from the
                                    # first metadata answer; refresh soon, not after 5 min.
                                    metadata_max_age_ms=1000)
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 30)
            await consumer.commit()
        finally:
            await consumer.stop()
        assert (record.key, record.value, record.partition) == (b"42", b"hello", sent.partition)

        offsets = await admin.list_consumer_group_offsets(group)
        assert offsets[TopicPartition(topic, sent.partition)].offset == sent.offset + 1
        await admin.delete_topics([topic])
    finally:
        await admin.close()
