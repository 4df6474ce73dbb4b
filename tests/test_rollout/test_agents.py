"""An answer's figures and pending list, and conversions by the ingest agent, through Faust's test context."""
from __future__ import annotations

import time
from unittest.mock import AsyncMock

import orjson
import pytest

from agents import topics
from agents.answer_records import answer_records
from agents.recommend import serve
from app.codec import AvroCodec
from app.deployment import holder
from app.partitioning import partition_of, user_key
from tables import arm_stats, pending_conversions
from tables.conversions import stats_key
from tests.ingest_context import ingest_context, settle
from tests.test_app.test_serving import deployed  # noqa: F401 - module fixture

WATCH = AvroCodec("WatchEvent")
USER = 77
PARTITION = partition_of(user_key(USER), 8)


@pytest.fixture
def serving(faust_test_app, deployed, monkeypatch):  # noqa: F811
    monkeypatch.setattr(holder, "current", deployed)
    monkeypatch.setattr(topics.conversions, "send", AsyncMock())
    monkeypatch.setattr(topics.item_interactions, "send", AsyncMock())
    for table in (arm_stats, pending_conversions):
        table.data.clear()
    arm_stats._rows.clear()
    return topics.conversions.send


def watch(movie: int, ts: int) -> bytes:
    return WATCH.encode({"ts": ts, "user_id": USER, "movie_id": movie, "minute": 0})


async def test_a_served_list_waits_and_converts_on_a_later_watch_only(serving) -> None:
    record = {"request_id": "r1", "ts": 1, "user_id": USER, "k": 5, "client_id": "t", "exclude": []}
    answered = serve(record, time.perf_counter())
    served = answered.response
    answer_records.add(served, record, PARTITION, via="http", answered=answered)
    trial = answered.arm.trial
    assert served["arm"] == "stable" and trial.startswith("stable:itemcf:")
    (entry,) = pending_conversions.entries(user_key(USER))
    assert (entry["r"], entry["m"]) == ("r1", served["movie_ids"])
    row = arm_stats.row(PARTITION, trial, "stable", "itemcf", "v1")
    assert (row["requests"], row["served"]) == (1, 1)
    async with ingest_context() as agent:
        await agent.put(watch(served["movie_ids"][1], served["ts"] - 1_000), key=user_key(USER), partition=PARTITION)
        await settle()
        assert not serving.call_args_list, "a watch before the response converts nothing"
        for _ in range(2):  # the second watch finds the list converted already
            await agent.put(watch(served["movie_ids"][1], served["ts"] + 1_000), key=user_key(USER),
                            partition=PARTITION)
        await settle()
    (sent,) = serving.call_args_list
    assert sent.kwargs["key"] == user_key(USER)
    assert orjson.loads(sent.kwargs["value"]) == {"request_id": "r1", "arm": "stable", "movie_id": served["movie_ids"][1],
                                                  "position": 2, "served_ts": served["ts"], "ts": served["ts"] + 1_000}
    assert pending_conversions.entries(user_key(USER)) == []
    counted = arm_stats.row(PARTITION, trial, "stable", "itemcf", "v1")
    assert counted["conversions"] == 1 and counted["positions"] == {"2": 1}
    rows = arm_stats.flush(lambda partition: partition == PARTITION)
    assert [key for _, key, _ in rows] == [stats_key(PARTITION, trial, "stable")]
    assert arm_stats.flush(lambda partition: True) == [], "nothing changed since"


async def test_a_repeated_request_id_is_not_counted_twice(serving) -> None:
    record = {"request_id": "again", "ts": 1, "user_id": USER, "k": 3, "client_id": "t", "exclude": []}
    first = serve(record, time.perf_counter(), PARTITION)
    answer_records.add(first.response, record, PARTITION, via="kafka", answered=first)
    second = serve(record, time.perf_counter(), PARTITION)
    assert second.repeat and second.response == first.response
    answer_records.add(second.response, record, PARTITION, via="kafka", answered=second)
    assert arm_stats.row(PARTITION, first.arm.trial, "stable", "itemcf", "v1")["requests"] == 1
    assert len(pending_conversions.entries(user_key(USER))) == 1
