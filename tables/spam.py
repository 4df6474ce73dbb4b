"""Spam tables: per-user window counts, per-partition window state, the coordinator, the quarantine.

Row layouts are in ``app.spam.windows`` and ``app.spam.quarantine``.
"""
from __future__ import annotations

from typing import Any

from app import app
from tables import KeyPartitionedTable, key_partitioned_table, settings


class PartitionKeyedTable(KeyPartitionedTable):
    """Rows keyed by a partition number (``b"3"``), each stored on that partition."""

    def partition_for_key(self, key: Any) -> int:
        return int(key)


spam_windows = key_partitioned_table(
    "spam_windows", "Per-user rate events per tumbling window, keyed by user id (app.spam.windows).")
spam_quarantine = key_partitioned_table(
    "spam_quarantine", "Per-user quarantine status and last spam flag, keyed by user id (app.spam.quarantine).")
spam_partitions: PartitionKeyedTable = app.tables.add(PartitionKeyedTable(
    app, name="spam_partitions", key_type=bytes, partitions=settings.partitions, beacon=app.tables.beacon,
    help="Per-partition open windows: count histograms and users above the floor, keyed by partition."))
# One partition, like its source topic ``spam-summaries``: the coordinator is one place.
spam_coordinator: KeyPartitionedTable = app.tables.add(KeyPartitionedTable(
    app, name="spam_coordinator", key_type=bytes, partitions=1, beacon=app.tables.beacon,
    help="Merged histograms of windows not yet decided, and each partition's closed-until time."))
COORDINATOR_KEY = b"spam"
