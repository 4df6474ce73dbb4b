"""Faust tables: per-user history and per-movie counts, each partitioned by its key.

Keys are the ids as UTF-8 decimal bytes, exactly the message keys, and values are JSON.
"""
from __future__ import annotations

from typing import Any

import faust

from app import app
from app.partitioning import partition_of
from app.settings import get_settings

settings = get_settings()


class KeyPartitionedTable(faust.Table):
    """A table whose changelog row for a key goes to the partition that owns the key.

    Faust's default is the partition of the event being processed, which is wrong when an
    agent takes a batch spanning partitions; its ``use_partitioner`` option asks the
    producer's metadata, which may not know a just-created changelog yet. The owner is
    Kafka's murmur2 placement of the key, the same as for the user-keyed source topics.
    """

    def partition_for_key(self, key: Any) -> int:
        return partition_of(key, self.partitions)


class TraceTable(faust.Table):
    """Traces by ``<partition>:<request_id>``: each row lives on the partition of the user served.

    The worker that answered owns that partition, so it writes the row itself, with no
    Kafka round trip per answer; ``trace_key`` and ``traces_of`` name and find the rows.
    """

    def partition_for_key(self, key: Any) -> int:
        return int(key.split(b":", 1)[0])


def trace_key(partition: int, request_id: str) -> bytes:
    """The ``traces`` key of an answer given on ``partition`` (its user's)."""
    return f"{partition}:{request_id}".encode()


def _register(cls: type[faust.Table], name: str, help: str) -> Any:
    """Register a table of ``cls`` with the app, as ``app.Table`` would."""
    return app.tables.add(cls(app, name=name, key_type=bytes, partitions=settings.partitions,
                              beacon=app.tables.beacon, help=help))


def key_partitioned_table(name: str, help: str) -> KeyPartitionedTable:
    """Register a ``KeyPartitionedTable`` with the app."""
    return _register(KeyPartitionedTable, name, help)


user_history = key_partitioned_table(
    "user_history", "Per-user history and counts, keyed by user id (tables.history).")
item_stats = key_partitioned_table("item_stats", "Per-movie interaction counts, keyed by movie id.")
recent_responses = key_partitioned_table(
    "recent_responses", "Per-user answers by request id, the newest few: a repeated request id "
    "gets the same answer.")
traces: TraceTable = _register(
    TraceTable, "traces", "Every served recommendation by partition and request id: request, response, "
    "history length.")
