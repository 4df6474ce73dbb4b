"""Answer records: traced at once, sent in bursts, bounded, and never stopped by a refused record."""
from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaTimeoutError

from agents.answer_records import AnswerRecords
from app.events import WatchEvent
from app.metrics import ANSWERS, UNRECORDED_ANSWERS
from app.partitioning import user_key
from tables import trace_key, traces, user_history
from tables.history import apply_watch, new_user_state


class Producer:
    """Records what is sent; refuses sends for request ids in ``refuse``."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:
        self.sent: list[tuple[str, bytes, int | None]] = []
        self.refuse = refuse

    async def send(self, topic: str, value: bytes, key: bytes, partition: int | None = None) -> asyncio.Future:
        if any(request_id.encode() in key for request_id in self.refuse):
            raise KafkaTimeoutError()
        self.sent.append((topic, key, partition))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def result(request_id: str) -> dict:
    return {"request_id": request_id, "ts": 1, "user_id": 7, "status": 200, "error": None, "k": 1,
            "movie_ids": [3], "scores": [0.5], "strategy": "model", "model_name": "als",
            "model_version": "v", "arm": "stable", "git_sha": "s", "data_snapshot_id": "d",
            "served_by": "w", "latency_ms": 0.1}


async def test_traced_at_once_sent_later_and_a_refused_record_stops_nothing(faust_test_app) -> None:
    records, producer = AnswerRecords(limit=10, interval_s=0.0), Producer(refuse={"bad"})
    lost = UNRECORDED_ANSWERS._value.get()
    answered = ANSWERS.labels("http", "model", "200", "stable")._value.get()
    state = new_user_state()
    for movie in (5, 6):
        apply_watch(state, WatchEvent(1, 7, movie, 0), 200)
    user_history.data[user_key(7)] = state
    for request_id, via in (("http", "http"), ("kafka", "kafka"), ("bad", "http")):
        records.add(result(request_id), {"request_id": request_id}, 3, via=via)
    assert ANSWERS.labels("http", "model", "200", "stable")._value.get() == answered + 2
    assert traces.row(trace_key(3, "http"))["history_length"] == 2  # user 7's live history; readable before any send
    await records.drain(producer)
    assert [(topic.rsplit("-", 1)[-1], key) for topic, key, _ in producer.sent] == [
        ("changelog", b"3:http"), ("responses", b"http"), ("changelog", b"3:kafka")]
    assert producer.sent[0][2] == 3 and UNRECORDED_ANSWERS._value.get() == lost + 1


async def test_the_backlog_is_bounded_oldest_first(faust_test_app) -> None:
    records, producer = AnswerRecords(limit=2, interval_s=0.0), Producer()
    lost = UNRECORDED_ANSWERS._value.get()
    for request_id in ("a", "b", "c"):
        records.add(result(request_id), {}, 0, via="kafka")
    await records.drain(producer)
    assert [key for _, key, _ in producer.sent] == [b"0:b", b"0:c"]
    assert UNRECORDED_ANSWERS._value.get() == lost + 1 and traces.row(trace_key(0, "a")) is not None
