"""The RocksDB store: the rebalance's full garbage collection only for a table that gave up a partition."""
from __future__ import annotations

from pathlib import Path

import pytest
from faust.types import TP


def test_a_rebalance_collects_garbage_only_for_a_table_that_gave_up_a_partition(
        faust_test_app: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rocksdict")
    import faust.stores.rocksdb as faust_rocksdb

    from tables import item_stats, user_history
    from tables.rocksdb_store import KeyPartitionedRocksDB

    collections: list[int] = []
    monkeypatch.setattr(faust_rocksdb.gc, "collect", lambda *args: collections.append(1) or 0)
    store = KeyPartitionedRocksDB("rocksdb://", user_history.app, user_history)
    monkeypatch.setattr(type(store), "path", property(lambda self: tmp_path))  # not the app's data dir
    key = b"42"
    store[key] = b"row"
    partition = user_history.partition_for_key(key)
    own = TP(user_history.changelog_topic.get_topic_name(), partition)
    other = TP(item_stats.changelog_topic.get_topic_name(), partition)

    store.revoke_partitions(user_history, set())  # a restart that kept everything
    store.revoke_partitions(user_history, {other})  # another table's partition moved
    assert collections == [] and store[key] == b"row"
    store.revoke_partitions(user_history, {own})
    assert collections == [1] and partition not in store._dbs, "the database given up is dropped"
