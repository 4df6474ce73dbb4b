"""Faust's RocksDB store with each row in the database of the partition that owns its key.

Faust's store picks the partition database from the event being processed (and asserts
there is one when writing). Our agents write after taking a batch that spans partitions,
and HTTP views and timers write or read with no event at all, so rows went to the wrong
database or the write failed: a worker with ``MOVIE_RECS_STORE=rocksdb://`` lost state.
Here the partition is the table's own ``partition_for_key``, the one its changelog row goes
to, which is also the database recovery fills from that changelog partition. Registered
as the ``rocksdb://`` store by ``tables`` (rocksdict, the ``rocksdb`` extra, must be installed).

Faust's store also runs a full ``gc.collect()`` on every rebalance, for every table, whether or
not it gave up a partition (dropping a database's last reference is what closes it; the
collection catches cycles). That was 0.3-0.4 s a table on this machine, 11 tables: 4-5 s
between a worker's join and the start of its recovery, in a restart and in every survivor of
a failover. Here it runs only when the table gave up a partition.
"""
from __future__ import annotations

from typing import Optional

from faust.stores import STORES
from faust.stores.rocksdb import Store
from faust.types import TP, CollectionT


class KeyPartitionedRocksDB(Store):
    """One RocksDB per table partition, chosen by the key's owner, not the current event."""

    def _partition(self, key: bytes) -> int:
        if self.table.partitions == 1:  # the catalog (a global table): Faust's lookup needs an event
            return 0
        return self.table.partition_for_key(key)

    def _set(self, key: bytes, value: Optional[bytes]) -> None:
        partition = self._partition(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    def _get(self, key: bytes) -> Optional[bytes]:
        return self._db_for_partition(self._partition(key)).get(key)

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        if any(tp.topic in table.changelog_topic.topics for tp in tps):
            super().revoke_partitions(table, tps)

    def _del(self, key: bytes) -> None:
        self._key_index.pop(key, None)
        self._db_for_partition(self._partition(key)).delete(key)


def register() -> None:
    """Make ``rocksdb://`` mean this store for every table created afterwards."""
    STORES.aliases["rocksdb"] = f"{__name__}:{KeyPartitionedRocksDB.__name__}"
