"""Spam tables: per-user window counts, per-partition window state and decisions, the coordinator, the quarantine.

Row layouts are in ``app.spam.windows`` and ``app.spam.quarantine``. The rows written for
every batch of ratings (windows, partitions, decisions) are MessagePack (``app.state_codec``).
"""
from __future__ import annotations

from typing import Any

from app import app
from app.state_codec import SPAM_NAME
from tables import KeyPartitionedTable, key_partitioned_table, register_table


class PartitionKeyedTable(KeyPartitionedTable):
    """Rows keyed by a partition number (``b"3"``), each stored on that partition."""

    def partition_for_key(self, key: Any) -> int:
        return int(key)


spam_windows = key_partitioned_table(
    "spam_windows", "Per-user rate events per tumbling window, keyed by user id (app.spam.windows).",
    value_serializer=SPAM_NAME)
spam_quarantine = key_partitioned_table(
    "spam_quarantine", "Per-user quarantine status and last spam flag, keyed by user id (app.spam.quarantine).")
# Counted by the rating ingest agent, decided by the spam agent: one writer for each row.
spam_partitions: PartitionKeyedTable = register_table(
    PartitionKeyedTable, "spam_partitions",
    "Per-partition open windows: count histograms and users above the floor, keyed by partition.",
    value_serializer=SPAM_NAME)
spam_decided: PartitionKeyedTable = register_table(
    PartitionKeyedTable, "spam_decided",
    "Per partition, the end of the latest window whose threshold was applied, keyed by partition.",
    value_serializer=SPAM_NAME)
# One partition, like its source topic ``spam-summaries``: the coordinator is one place.
spam_coordinator: KeyPartitionedTable = app.tables.add(KeyPartitionedTable(
    app, name="spam_coordinator", key_type=bytes, partitions=1, beacon=app.tables.beacon,
    help="Merged histograms of windows not yet decided, and each partition's closed-until time."))
COORDINATOR_KEY = b"spam"
