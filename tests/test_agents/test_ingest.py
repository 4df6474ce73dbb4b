"""The ingest agent (and the movielog and item agents) through ``agent.test_context()``: state, dead letters, reroutes and replays."""
import asyncio
from unittest.mock import Mock

from agents import topics
from agents.movielog import adapt_movielog
from app.codec import AvroCodec
from app.partitioning import partition_of, user_key
from tables import item_stats, user_history
from tests.ingest_context import ingest_context, settle

WATCH = AvroCodec("WatchEvent")
RATE = AvroCodec("RateEvent")
DEAD = AvroCodec("DeadLetter")
TS = 900_000_000_000
USER = 7
OWNER = partition_of(user_key(USER), 8)


def watch(movie: int, minute: int, user: int = USER) -> bytes:
    return WATCH.encode({"ts": TS + minute, "user_id": user, "movie_id": movie, "minute": minute})


async def test_watch_minutes_count_once_per_movie(faust_test_app) -> None:
    async with ingest_context() as agent:
        for minute in range(5):
            await agent.put(watch(11, minute), key=user_key(USER), partition=OWNER)
        await agent.put(watch(12, 0), key=user_key(USER), partition=OWNER)
        await settle()
    state = user_history.get(user_key(USER))
    assert state["watch_events"] == 6
    assert sorted(state["watched"]) == [11, 12]
    sent = faust_test_app["item-interactions"].call_args_list
    deltas = [delta for call in sent for delta in call.kwargs["value"]]
    assert [(d["movie_id"], d["new_watcher"]) for d in deltas] == [(11, 1), (12, 1)]
    for call in sent:  # one message per movie partition, on that partition
        assert {partition_of(str(d["movie_id"]).encode(), 8) for d in call.kwargs["value"]} == {call.kwargs["partition"]}


async def test_bad_messages_are_dead_lettered_with_reason_and_payload(faust_test_app) -> None:
    bad = [b"not avro", watch(11, 0)[:-1], WATCH.encode(
        {"ts": TS, "user_id": USER, "movie_id": -3, "minute": 0}), b"\x00" * 70_000]
    async with ingest_context() as agent:
        for value in bad:
            await agent.put(value, key=user_key(USER), partition=OWNER)
        await agent.put(watch(11, 0), key=user_key(USER), partition=OWNER)
        await settle()
    letters = [DEAD.decode(call.kwargs["value"])
               for call in faust_test_app["dead-letters"].call_args_list]
    assert [letter["offset"] for letter in letters] == [0, 1, 2, 3]
    assert "magic byte" in letters[0]["error"] and letters[0]["payload"] == b"not avro"
    assert "truncated" in letters[1]["error"] and letters[1]["payload"] == bad[1]
    assert "movie_id -3" in letters[2]["error"]
    assert "exceeds" in letters[3]["error"] and "truncated to 65536" in letters[3]["error"]
    assert user_history.get(user_key(USER))["watch_events"] == 1


async def test_event_on_a_foreign_partition_is_moved_not_applied(faust_test_app) -> None:
    wrong = (OWNER + 1) % 8
    async with ingest_context() as agent:
        await agent.put(watch(11, 0), key=user_key(USER), partition=wrong)
        await settle()
    assert user_history.get(user_key(USER)) is None
    (call,) = faust_test_app["watch-rerouted"].call_args_list
    assert call.kwargs == {"key": user_key(USER), "value": watch(11, 0), "partition": OWNER,
                           "headers": [("movierecs-origin", f"watch:{wrong}:0".encode())]}


async def test_replayed_offsets_are_not_counted_twice(faust_test_app) -> None:
    async with ingest_context(topics.rate) as agent:
        value = RATE.encode({"ts": TS, "user_id": USER, "movie_id": 3, "rating": 4})
        await agent.put(value, key=user_key(USER), partition=OWNER)
        await settle()
        agent.sent_offset = 0  # the broker redelivers offset 0 after a crash
        await agent.put(value, key=user_key(USER), partition=OWNER)
        await settle()
    state = user_history.get(user_key(USER))
    assert state["rate_events"] == 1 and state["rated"] == {3: 4}


async def test_movielog_lines_become_avro_events(faust_test_app) -> None:
    lines = [b"2024-01-01T10:00:00,7,GET /data/m/11/0.mpg", b"2024-01-01T10:01:00,7,GET /rate/11=5",
             b"2024-01-01T10:02:00,7,recommendation request h:1, status 200, result: 1, 9 ms",
             b"garbage", b"\xff\xfe"]
    async with adapt_movielog.test_context() as agent:
        for line in lines:
            await agent.put(line)
    (watch_call,) = faust_test_app["watch"].call_args_list
    assert WATCH.decode(watch_call.kwargs["value"])["movie_id"] == 11
    assert watch_call.kwargs["key"] == b"7"
    (rate_call,) = faust_test_app["rate"].call_args_list
    assert RATE.decode(rate_call.kwargs["value"])["rating"] == 5
    errors = [DEAD.decode(c.kwargs["value"])["error"]
              for c in faust_test_app["dead-letters"].call_args_list]
    assert len(errors) == 2 and "not '<time>" in errors[0] and "UTF-8" in errors[1]


async def test_item_agent_sums_deltas(faust_test_app) -> None:
    from agents.items import count_items
    deltas = [{"movie_id": 4, "ts": 1, "new_watcher": 1, "ratings": 0, "rating_sum": 0},
              {"movie_id": 4, "ts": 2, "new_watcher": 0, "ratings": 1, "rating_sum": 5},
              {"movie_id": 8, "ts": 3, "new_watcher": 1, "ratings": 0, "rating_sum": 0}]
    async with count_items.test_context() as agent:
        await agent.put(deltas[0], key=b"4", partition=partition_of(b"4", 8))  # one delta, as written before
        await agent.put(deltas[1:2], key=b"4", partition=partition_of(b"4", 8))  # a list, as written now
        await agent.put(deltas[2:], key=b"8", partition=partition_of(b"8", 8))
        for _ in range(100):  # the item agent's batch window (item_batch_within_s) is the longer one
            if item_stats.get(b"8") is not None:
                break
            await asyncio.sleep(0.05)
    assert item_stats.get(b"4") == {"watchers": 1, "ratings": 1, "rating_sum": 5, "last_ts": 2}
    assert item_stats.get(b"8")["watchers"] == 1


def test_a_rerouted_copy_is_deduplicated_by_its_origin() -> None:
    from types import SimpleNamespace

    from agents.reroute import ORIGIN_HEADER, REROUTE_TOPICS, origin

    rerouted = next(iter(REROUTE_TOPICS))
    copy = SimpleNamespace(topic=rerouted, partition=OWNER, offset=99,
                           headers=[(ORIGIN_HEADER, b"watch:5:1234")])
    assert origin(copy) == ("watch:5", 1234)
    forged = SimpleNamespace(topic="watch", partition=2, offset=7,
                             headers=[(ORIGIN_HEADER, b"watch:5:1234")])
    assert origin(forged) == ("watch:2", 7)


async def test_a_users_watch_and_rating_in_one_batch_write_the_row_once(faust_test_app, monkeypatch) -> None:
    writes = Mock(wraps=user_history.send_changelog)
    monkeypatch.setattr(user_history, "send_changelog", writes)
    rating = RATE.encode({"ts": TS, "user_id": USER, "movie_id": 11, "rating": 5})
    async with ingest_context() as agent:
        await agent.put(watch(11, 0), key=user_key(USER), partition=OWNER, wait=False)
        agent.original_channel = topics.rate
        await agent.put(rating, key=user_key(USER), partition=OWNER, wait=False)
        agent.original_channel = topics.watch
        await agent.put(rating, key=user_key(USER), partition=OWNER, wait=False)  # a rating on the watch topic
        await settle()
    assert [call.args[1] for call in writes.call_args_list] == [user_key(USER)]
    state = user_history.get(user_key(USER))
    assert (state["watch_events"], state["rate_events"], state["rated"]) == (1, 1, {11: 5})
    (letter,) = [DEAD.decode(call.kwargs["value"]) for call in faust_test_app["dead-letters"].call_args_list]
    assert (letter["source_topic"], letter["offset"]) == ("watch", 2) and "schema" in letter["error"], letter["error"]
