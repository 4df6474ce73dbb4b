"""The memory store keeps its offsets and standby rows, so a rebalance reads only the changelog tail."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP


def event(tp: TP, offset: int, key: bytes, value: bytes | None) -> SimpleNamespace:
    message = SimpleNamespace(tp=tp, partition=tp.partition, offset=offset, value=value)
    return SimpleNamespace(key=key, value=value, message=message)


def test_tables_use_it_and_it_knows_how_far_each_partition_is_applied(faust_test_app: dict) -> None:
    from tables import user_history
    from tables.memory_store import WarmMemoryStore

    store = user_history.data
    assert isinstance(store, WarmMemoryStore)
    changelog = user_history.changelog_topic.get_topic_name()
    one, three = TP(changelog, 1), TP(changelog, 3)
    assert store.persisted_offset(one) is None  # nothing applied: recovery reads it whole
    store.apply_changelog_batch([event(one, 0, b"a", b"1"), event(one, 1, b"b", b"2"), event(three, 5, b"c", b"3")],
                                lambda k: k, lambda v: v)
    assert (store.persisted_offset(one), store.persisted_offset(three)) == (1, 5)
    store.set_persisted_offset(one, 9)  # a row this worker wrote itself
    store.set_persisted_offset(one, 4)  # an older acknowledgement does not move it back
    assert store.persisted_offset(one) == 9 and store[b"a"] == b"1"


def test_standby_rows_are_kept_and_a_partition_no_longer_held_is_forgotten(faust_test_app: dict) -> None:
    from tables import user_history

    store = user_history.data
    changelog = user_history.changelog_topic.get_topic_name()
    one, three = TP(changelog, 1), TP(changelog, 3)
    store.apply_changelog_batch([event(one, 0, b"a", b"1"), event(three, 0, b"c", b"3")], lambda k: k, lambda v: v)
    asyncio.run(store.on_recovery_completed({one}, {three}))  # Faust's own store dropped the standby's rows here
    assert (store.get(b"a"), store.get(b"c"), store.persisted_offset(three)) == (b"1", b"3", 0)
    asyncio.run(store.on_recovery_completed({one}, set()))  # partition 3 went to another worker
    assert store.get(b"c") is None and store.persisted_offset(three) is None and store.persisted_offset(one) == 0
    store.clear()
    assert store.persisted_offset(one) is None  # emptied: read everything again
