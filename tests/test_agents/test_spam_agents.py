"""Spam counting in the ingest agent's batch, and the spam agent's thresholds, on Faust's test app."""
import json
from types import SimpleNamespace
from unittest.mock import AsyncMock

import pytest

from agents import topics
from agents.spam import detect, merge
from app.codec import AvroCodec
from app.partitioning import partition_of, user_key
from app.settings import get_settings
from app.spam.rules import verdict
from tables.spam import COORDINATOR_KEY, spam_coordinator, spam_decided, spam_partitions, spam_quarantine, spam_windows
from tests.ingest_context import ingest_context, settle

RATE = AvroCodec("RateEvent")
FLAG = AvroCodec("UserFlag")
W = get_settings().spam_window_s * 1000
GRACE = get_settings().spam_late_grace_s * 1000
FLOOR = get_settings().spam_floor
T0 = 900_000_000_000 - 900_000_000_000 % W  # a window start
SPAMMER, OTHER = 7, 8
PARTITION = partition_of(user_key(SPAMMER), 8)
PART_KEY = str(PARTITION).encode()


def rating(user: int, ts: int, movie: int = 3) -> bytes:
    return RATE.encode({"ts": ts, "user_id": user, "movie_id": movie, "rating": 4})


def same_partition_user() -> int:
    return next(u for u in range(OTHER, 10_000) if partition_of(user_key(u), 8) == PARTITION)


@pytest.fixture()
def spam_sends(faust_test_app, monkeypatch: pytest.MonkeyPatch) -> dict[str, AsyncMock]:
    """Empty spam tables; the summaries and flags the agents send, captured."""
    for table in (spam_windows, spam_partitions, spam_decided, spam_quarantine):
        table.data.clear()
    sends = {}
    for topic in (topics.spam_summaries, topics.user_flags):
        sends[topic.get_topic_name()] = mock = AsyncMock()
        monkeypatch.setattr(topic, "send", mock)
    return sends


def summaries(sends: dict[str, AsyncMock]) -> list[dict]:
    return [json.loads(call.kwargs["value"]) for call in sends["spam-summaries"].call_args_list]


async def test_ratings_are_counted_for_spam_once_in_the_ingest_batch(spam_sends) -> None:
    async with ingest_context(topics.rate) as agent:
        for i in range(3):
            await agent.put(rating(SPAMMER, T0 + i, movie=3 + i), key=user_key(SPAMMER), partition=PARTITION)
        await settle()
        agent.sent_offset = 0  # the broker redelivers offsets 0 and 1 after a crash
        for i in range(2):
            await agent.put(rating(SPAMMER, T0 + i, movie=3 + i), key=user_key(SPAMMER), partition=PARTITION)
        await settle()
    assert spam_windows.get(user_key(SPAMMER)) == {"windows": {str(T0): 3}}
    window = spam_partitions.get(PART_KEY)["windows"][str(T0)]
    assert window["hist"] == {"3": 1} and window["over"] == {}
    assert all(summary["windows"] == {} for summary in summaries(spam_sends)), "nothing closed yet"


async def test_a_closed_window_is_summarised_and_its_threshold_flags_once(spam_sends) -> None:
    other = same_partition_user()
    async with ingest_context(topics.rate) as agent:
        for i in range(FLOOR + 5):
            await agent.put(rating(SPAMMER, T0 + i, movie=1 + i), key=user_key(SPAMMER), partition=PARTITION)
        await agent.put(rating(other, T0), key=user_key(other), partition=PARTITION)
        await settle()
        await agent.put(rating(other, T0 + W + GRACE), key=user_key(other), partition=PARTITION)
        await settle()
    *progress, summary = summaries(spam_sends)
    assert [p["windows"] for p in progress] == [{}]  # the first batch only reported its progress
    assert summary == {"partition": PARTITION, "closed_until": T0 + W,
                       "windows": {str(T0): {str(FLOOR + 5): 1, "1": 1}}}

    decided = verdict({FLOOR + 5: 1, 1: 1}, FLOOR, T0, T0 + W, get_settings().spam_min_population)
    assert decided.threshold == FLOOR  # too few users for a robust rule: the floor decides
    threshold = SimpleNamespace(message=SimpleNamespace(
        topic=topics.spam_thresholds.get_topic_name(), partition=PARTITION, offset=0,
        value=json.dumps(decided.as_dict()).encode()))
    await detect([threshold])
    await detect([threshold])  # a replayed threshold
    (flag_call,) = spam_sends["user-flags"].call_args_list
    flag = FLAG.decode(flag_call.kwargs["value"])
    assert (flag["user_id"], flag["event_count"], flag["action"]) == (SPAMMER, FLOOR + 5, "quarantined")
    assert spam_decided.get(PART_KEY) == {"decided_until": T0 + W}
    assert str(T0) in spam_partitions.get(PART_KEY)["windows"], "the spam agent does not write it"

    async with ingest_context(topics.rate) as agent:  # the next batch forgets the decided window
        await agent.put(rating(other, T0 + W + GRACE + 1), key=user_key(other), partition=PARTITION)
        await settle()
    assert str(T0) not in spam_partitions.get(PART_KEY)["windows"]


async def test_the_coordinator_decides_a_window_once_from_a_batch_of_summaries(spam_sends, monkeypatch) -> None:
    spam_coordinator.data.clear()
    thresholds = AsyncMock()
    monkeypatch.setattr(topics.spam_thresholds, "send", thresholds)
    loud = {"partition": 0, "closed_until": T0 + W, "windows": {str(T0): {str(FLOOR + 5): 1, "1": 3}}}
    quiet = [{"partition": p, "closed_until": T0 + W, "windows": {str(T0): {"2": 1}}} for p in range(1, 8)]
    batch = [SimpleNamespace(message=SimpleNamespace(value=json.dumps(s).encode())) for s in [loud, *quiet]]
    await merge(batch)
    await merge(batch)  # replayed after a crash: the row says every partition reported it
    assert sorted(call.kwargs["partition"] for call in thresholds.call_args_list) == list(range(8))
    sent = json.loads(thresholds.call_args_list[0].kwargs["value"])
    assert (sent["window_start"], sent["population"], sent["threshold"]) == (T0, 11, FLOOR)
    assert spam_coordinator.get(COORDINATOR_KEY)["decided_until"] == T0 + W
