"""The app's Faust consumer: the seek that ends a rebalance loses no message (app.faust_consumer)."""
from unittest.mock import AsyncMock

from aiokafka import TopicPartition

import tables  # noqa: F401  (registers the tables, so their changelogs are known)
from agents import topics
from app import app
from app.faust_consumer import Consumer


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
