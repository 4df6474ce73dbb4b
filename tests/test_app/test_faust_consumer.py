"""The app's Faust consumer (app.faust_consumer): the seek that ends a rebalance loses no
message, and partitions Faust pauses are not fetched."""
import asyncio
from typing import AsyncIterator
from unittest.mock import AsyncMock, Mock

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

import tables  # noqa: F401  (registers the tables, so their changelogs are known)
from agents import topics
from app import app
from app.faust_consumer import Consumer, set_paused
from app.metrics import CONSUMER_PARTITIONS


async def test_seek_stops_the_flow_and_rewinds_partitions_never_committed(monkeypatch) -> None:
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    committed = TopicPartition(topics.watch.get_topic_name(), 3)
    fresh = TopicPartition(topics.watch_rerouted.get_topic_name(), 3)
    changelog = TopicPartition(f"{app.conf.id}-user_history-changelog", 3)
    thread = consumer._thread
    monkeypatch.setattr(thread, "seek_to_committed", AsyncMock(
        return_value={committed: 120, fresh: None, changelog: None}))
    monkeypatch.setattr(thread, "earliest_offsets", AsyncMock(return_value={fresh: 0}))
    monkeypatch.setattr(thread, "seek_wait", AsyncMock())
    consumer.resume_flow()
    try:
        await consumer.perform_seek()
        # Nothing reaches the stream queues until recovery empties them and resumes the flow.
        assert not consumer.flow_active
        thread.earliest_offsets.assert_awaited_once_with(fresh)
        thread.seek_wait.assert_awaited_once_with({fresh: 0})
        assert consumer._read_offset[committed] == 120
        assert consumer._read_offset[fresh] is None
    finally:
        consumer.resume_flow()


@pytest.fixture
async def assigned_kafka_consumer() -> AsyncIterator[AIOKafkaConsumer]:
    """An aiokafka consumer (never started: no broker needed) holding a watch partition and a changelog one."""
    kafka = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    kafka.assign([TopicPartition(topics.watch.get_topic_name(), 3),
                  TopicPartition(f"{app.conf.id}-user_history-changelog", 3)])
    yield kafka
    await kafka.stop()


async def test_set_paused_pauses_exactly_the_assigned_partitions_asked(assigned_kafka_consumer) -> None:
    stream = TopicPartition(topics.watch.get_topic_name(), 3)
    changelog = TopicPartition(f"{app.conf.id}-user_history-changelog", 3)
    elsewhere = TP(topics.watch.get_topic_name(), 4)  # not assigned here: must not raise
    set_paused(assigned_kafka_consumer, {TP(*stream), TP(*changelog), elsewhere})
    assert assigned_kafka_consumer.paused() == {stream, changelog}
    set_paused(assigned_kafka_consumer, {TP(*changelog)})
    assert assigned_kafka_consumer.paused() == {changelog}
    assert CONSUMER_PARTITIONS.labels("paused")._value.get() == 1
    assert CONSUMER_PARTITIONS.labels("fetched")._value.get() == 1
    set_paused(assigned_kafka_consumer, set())
    assert assigned_kafka_consumer.paused() == set()


async def test_partitions_faust_pauses_are_paused_in_aiokafka(monkeypatch, assigned_kafka_consumer) -> None:
    consumer = app.consumer
    stream = TopicPartition(topics.watch.get_topic_name(), 3)
    changelog = TopicPartition(f"{app.conf.id}-user_history-changelog", 3)
    thread = consumer._thread
    monkeypatch.setattr(thread, "_consumer", assigned_kafka_consumer)
    monkeypatch.setattr(thread, "thread_loop", asyncio.get_running_loop())
    try:
        # As a rebalance does: everything paused, then recovery resumes the stream partitions.
        consumer.pause_partitions({TP(*stream), TP(*changelog)})
        await asyncio.sleep(0)
        assert assigned_kafka_consumer.paused() == {stream, changelog}
        consumer.resume_partitions({TP(*stream)})
        await asyncio.sleep(0)
        assert assigned_kafka_consumer.paused() == {changelog}
    finally:
        consumer.resume_partitions({TP(*stream), TP(*changelog)})
        await asyncio.sleep(0)


async def test_no_fetch_alarm_for_a_paused_partition(monkeypatch) -> None:
    consumer = app.consumer
    stream, changelog = TP(topics.watch.get_topic_name(), 3), TP(f"{app.conf.id}-user_history-changelog", 3)
    monkeypatch.setattr(consumer._thread, "verify_event_path", Mock())
    monkeypatch.setattr(consumer._thread, "_consumer", None)  # nothing to mirror into
    consumer.pause_partitions({changelog})
    try:
        consumer.verify_event_path(0.0, changelog)
        consumer.verify_event_path(0.0, stream)
        consumer._thread.verify_event_path.assert_called_once_with(0.0, stream)
    finally:
        consumer.resume_partitions({changelog})
