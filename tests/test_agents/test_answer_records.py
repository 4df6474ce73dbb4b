"""Answer records: traced at once, sent in bursts, bounded, never stopped by a refused record; exposure folded."""
from __future__ import annotations

import asyncio
import json

from aiokafka.errors import KafkaTimeoutError

from agents.answer_records import AnswerRecords
from app.events import WatchEvent
from app.metrics import ANSWERS, UNRECORDED_ANSWERS
from app.partitioning import partition_of, user_key
from app.serving import Answer
from app.settings import get_settings
from tables import trace_key, traces, user_history
from tables.history import apply_watch, new_user_state


class Producer:
    """Records what is sent; refuses sends for request ids in ``refuse``."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:
        self.sent: list[tuple[str, bytes, int | None]] = []
        self.values: list[bytes | None] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []
        self.refuse = refuse

    async def send(self, topic: str, value: bytes | None, key: bytes, partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future:
        if any(request_id.encode() in key for request_id in self.refuse):
            raise KafkaTimeoutError()
        self.sent.append((topic, key, partition))
        self.values.append(value)
        self.headers.append(headers)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def result(request_id: str, movies: tuple[int, ...] = (3,), status: int = 200) -> dict:
    return {"request_id": request_id, "ts": 1, "user_id": 7, "status": status, "error": None, "k": 1,
            "movie_ids": list(movies), "scores": [0.5] * len(movies), "strategy": "model", "model_name": "als",
            "model_version": "v", "arm": "stable", "git_sha": "s", "data_snapshot_id": "d",
            "served_by": "w", "latency_ms": 0.1}


async def test_traced_at_once_sent_later_and_a_refused_record_stops_nothing(faust_test_app) -> None:
    records, producer = AnswerRecords(limit=10, interval_s=0.0, window_s=3600), Producer(refuse={"bad"})
    lost = UNRECORDED_ANSWERS._value.get()
    answered = ANSWERS.labels("http", "model", "200", "stable")._value.get()
    state = new_user_state()
    for movie in (5, 6):
        apply_watch(state, WatchEvent(1, 7, movie, 0), 200)
    user_history.data[user_key(7)] = state
    context = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    for request_id, via in (("http", "http"), ("kafka", "kafka"), ("bad", "http")):
        records.add(result(request_id), {"request_id": request_id}, 3, via=via,
                    headers=context if via == "http" else None)
    assert ANSWERS.labels("http", "model", "200", "stable")._value.get() == answered + 2
    assert traces.row(trace_key(3, "http"))["history_length"] == 2  # user 7's live history; readable before any send
    await records.drain(producer)
    assert [(topic.rsplit("-", 1)[-1], key) for topic, key, _ in producer.sent] == [
        ("changelog", b"3:http"), ("responses", b"http"), ("changelog", b"3:kafka")]
    assert producer.sent[0][2] == 3 and UNRECORDED_ANSWERS._value.get() == lost + 1
    assert producer.headers[1] == context  # the HTTP answer's reco-responses copy carries its trace context


async def test_the_backlog_is_bounded_oldest_first(faust_test_app) -> None:
    records, producer = AnswerRecords(limit=2, interval_s=0.0, window_s=3600), Producer()
    lost = UNRECORDED_ANSWERS._value.get()
    for request_id in ("a", "b", "c"):
        records.add(result(request_id), {}, 0, via="kafka")
    await records.drain(producer)
    assert [key for _, key, _ in producer.sent] == [b"0:b", b"0:c"]
    assert UNRECORDED_ANSWERS._value.get() == lost + 1 and traces.row(trace_key(0, "a")) is not None


async def test_served_lists_are_folded_and_flushed_as_one_delta_per_arm_and_window(faust_test_app) -> None:
    from app import serving

    records, producer = AnswerRecords(limit=10, interval_s=0.0, window_s=3600), Producer()
    trials = dict(serving.EXPLORATION.trials)
    first = result("a", movies=(3, 4))
    records.add(first, {}, 0, via="kafka", answered=Answer(first))
    records.add(result("b", movies=(4,)), {}, 0, via="http")
    records.add(result("c", movies=(5,), status=503), {}, 0, via="kafka")  # showed nothing
    records.add(result("a", movies=(3, 4)), {}, 0, via="kafka", answered=Answer(first, repeat=True))
    assert serving.EXPLORATION.trials[4] == trials.get(4, 0) + 2 and serving.EXPLORATION.trials.get(5, 0) == trials.get(5, 0)
    await records.drain(producer)
    assert not any(topic.endswith("exposure-deltas") for topic, _, _ in producer.sent)  # not before a flush
    records.flush_exposure()
    records.flush_exposure()  # nothing new: nothing more to send
    await records.drain(producer)
    (delta,) = [i for i, (topic, _, _) in enumerate(producer.sent[4:], 4) if topic.endswith("exposure-deltas")]
    assert producer.sent[delta][1:] == (b'"stable"', partition_of(b'"stable"', get_settings().partitions))
    assert json.loads(producer.values[delta]) == {"arm": "stable", "window_start": 0, "responses": 2,
                                                  "movies": {"3": 1, "4": 2}}
