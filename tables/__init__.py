"""Faust tables: per-user history, per-movie counts, answers and traces.

Keys are the ids as UTF-8 decimal bytes, exactly the message keys, and values are JSON,
but for ``user_history`` and the spam rows (``tables.spam``), which are MessagePack
(``app.state_codec``).
"""
from __future__ import annotations

from typing import Any

import faust

from app import app, state_codec
from app.partitioning import partition_of
from app.settings import get_settings
from tables.memory_store import register as register_memory_store
from tables.rocksdb_store import register as register_rocksdb_store
from tables.traces import TraceTable, trace_key  # noqa: F401 - trace_key is part of this package's API

settings = get_settings()
register_memory_store()  # before any table opens its store
register_rocksdb_store()


class KeyPartitionedTable(faust.Table):
    """A table whose changelog row for a key goes to the partition that owns the key.

    Faust's default is the partition of the event being processed, which is wrong when an
    agent takes a batch spanning partitions; its ``use_partitioner`` option asks the
    producer's metadata, which may not know a just-created changelog yet. The owner is
    Kafka's murmur2 placement of the key, the same as for the user-keyed source topics.
    """

    def partition_for_key(self, key: Any) -> int:
        return partition_of(key, self.partitions)


def register_table(cls: type[faust.Table], name: str, help: str, value_serializer: str | None = None,
              **options: Any) -> Any:
    """Register a table of ``cls`` with the app, as ``app.Table`` would; its values in
    ``value_serializer`` when given (else as its ``value_type`` says: JSON, or raw bytes)."""
    table = cls(app, name=name, key_type=bytes, partitions=settings.partitions, beacon=app.tables.beacon,
                help=help, **options)
    if value_serializer is not None:
        # Faust derives the serializer from value_type alone; its changelog topic (made by
        # add) and its store (made on first use) take it from here.
        table.value_serializer = value_serializer
    return app.tables.add(table)


def key_partitioned_table(name: str, help: str, value_serializer: str | None = None) -> KeyPartitionedTable:
    """Register a ``KeyPartitionedTable`` with the app."""
    return register_table(KeyPartitionedTable, name, help, value_serializer)


user_history = key_partitioned_table(
    "user_history", "Per-user history and counts, keyed by user id (tables.history).",
    value_serializer=state_codec.NAME)
item_stats = key_partitioned_table("item_stats", "Per-movie interaction counts, keyed by movie id.")
traces: TraceTable = register_table(
    TraceTable, "traces", "Every served recommendation by partition and request id: request, response, "
    "history length.", value_type=bytes,
    extra_topic_configs={"cleanup.policy": "compact,delete", "retention.ms": str(int(settings.trace_retention_s * 1000))})
exposure_windows = app.Table(
    "exposure", default=None, partitions=settings.partitions,  # no key/value type: JSON keys and rows
    help="Exposure per arm in tumbling windows: responses and per-movie counts (tables.exposure).",
).tumbling(settings.fairness_window_s, expires=settings.fairness_window_s * settings.fairness_windows_kept)

from tables.conversions import ArmStatsTable, PendingTable  # noqa: E402 - registered with the others

pending_conversions: PendingTable = register_table(
    PendingTable, "pending_conversions", "Per user, the served lists that may still convert (tables.conversions).",
    value_type=bytes)
arm_stats: ArmStatsTable = register_table(
    ArmStatsTable, "arm_stats", "Per partition, rollout trial and arm: requests, errors, conversions, latency.",
    value_type=bytes)
