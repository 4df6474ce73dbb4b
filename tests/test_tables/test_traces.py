"""The traces table: rows on the partition named in the key, JSON bytes, expired oldest first."""
from __future__ import annotations

from types import SimpleNamespace

import orjson
from faust.types import TP

from tables import trace_key, traces


def row(recorded_at: int) -> dict:
    return {"request": None, "response": {"request_id": "r"}, "history_length": 0, "recorded_at": recorded_at}


async def test_rows_live_on_the_partition_in_their_key_and_expire_in_write_order(faust_test_app) -> None:
    assert traces.partition_for_key(trace_key(5, "abc:def")) == 5
    sent = traces.keep(trace_key(1, "old"), row(100))
    traces.keep(trace_key(2, "new"), row(300))
    traces.keep(trace_key(3, "mid"), row(200))  # written last, so it expires after "new" is checked
    assert orjson.loads(sent) == row(100) and traces.row(trace_key(1, "old")) == row(100)
    assert traces.expire(150) == 1 and traces.row(trace_key(1, "old")) is None
    assert traces.expire(250) == 0  # "new" (300) stands first in line, so "mid" waits behind it
    assert traces.expire(400) == 2 and not list(traces.data.keys())


async def test_the_order_is_rebuilt_from_recovered_rows(faust_test_app) -> None:
    traces.data[trace_key(0, "a")] = orjson.dumps(row(500))
    traces.data[trace_key(4, "b")] = orjson.dumps(row(100))
    await traces.call_recover_callbacks()
    assert traces.expire(200) == 1 and traces.row(trace_key(0, "a")) == row(500)


async def test_rows_a_standby_applies_expire_too(faust_test_app) -> None:
    events = []
    for partition in range(3):
        key, value = trace_key(partition, f"s{partition}"), orjson.dumps(row(100 + partition))
        events.append(SimpleNamespace(key=key, value=value, message=SimpleNamespace(  # a Faust message's fields
            key=key, value=value, partition=partition, tp=TP("traces-changelog", partition), offset=0)))
    traces.apply_changelog_batch(events)
    assert traces.row(trace_key(2, "s2")) == row(102)
    assert traces.expire(102) == 2 and traces.row(trace_key(2, "s2")) == row(102)
