"""End to end against the real broker: an outside producer, a real worker, exact state."""
from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from app.events import RateEvent, WatchEvent
from app.partitioning import partition_of, user_key
from app.state_codec import UserStateCodec
from tables.history import apply_item_delta, apply_rate, apply_watch, new_user_state
from tests.kafka_tools import Worker, free_port, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

WATCH, RATE, DEAD = AvroCodec("WatchEvent"), AvroCodec("RateEvent"), AvroCodec("DeadLetter")
PARTITIONS = 8
T0 = 1_600_000_000_000


def make_traffic(seed: int = 7, users: int = 120, target: int = 10_500, stray_share: float = 1 / 40):
    """(topic, key, value, partition or None) tuples plus the expected outcome.

    Valid watch minutes and ratings, some invalid messages of every kind, and a share of the
    watches (``stray_share``) deliberately produced to a partition that does not own their
    user (as a CRC32 client would), which the worker must move rather than lose or
    mis-attribute.
    """
    rng = random.Random(seed)
    sends, expected_users, invalid = [], {}, []
    ts = T0
    while len(sends) < target:
        user = rng.randint(1, users)
        movie = rng.randint(1, 300)
        state = expected_users.setdefault(user, new_user_state())
        owner = partition_of(user_key(user), PARTITIONS)
        for minute in range(rng.randint(1, 12)):
            ts += 1000
            value = WATCH.encode({"ts": ts, "user_id": user, "movie_id": movie, "minute": minute})
            apply_watch(state, WatchEvent(ts, user, movie, minute), 200)
            stray = rng.random() < stray_share
            sends.append(("watch", user_key(user), value, (owner + 1) % PARTITIONS if stray else owner))
        if rng.random() < 0.5:
            ts += 1000
            rating = rng.randint(1, 5)
            value = RATE.encode({"ts": ts, "user_id": user, "movie_id": movie, "rating": rating})
            apply_rate(state, RateEvent(ts, user, movie, rating), 200)
            sends.append(("rate", user_key(user), value, owner))
        if rng.random() < 0.3:
            bad = rng.choice([
                b"\x07garbage",
                WATCH.encode({"ts": ts, "user_id": user, "movie_id": movie, "minute": 1})[:-2],
                RATE.encode({"ts": ts, "user_id": user, "movie_id": movie, "rating": 9}),
                WATCH.encode({"ts": 5, "user_id": user, "movie_id": movie, "minute": 0}),
                b"",
            ])
            topic = "rate" if bad[:5] == RATE.encode({"ts": 0, "user_id": 1, "movie_id": 1, "rating": 1})[:5] else rng.choice(["watch", "rate"])
            sends.append((topic, user_key(user), bad, owner))
            invalid.append((topic, bad))
    return sends, expected_users, invalid


def expected_items(expected_users: dict) -> dict[int, dict]:
    """Movie counts implied by the users' final states."""
    items: dict[int, dict] = {}
    for state in expected_users.values():
        for movie in state["watched"]:
            items[int(movie)] = apply_item_delta(items.get(int(movie)), {
                "movie_id": int(movie), "ts": 0, "new_watcher": 1, "ratings": 0, "rating_sum": 0})
        for movie, rating in state["rated"].items():
            items[int(movie)] = apply_item_delta(items.get(int(movie)), {
                "movie_id": int(movie), "ts": 0, "new_watcher": 0, "ratings": 1, "rating_sum": rating})
    return items


async def produce(bootstrap: str, prefix: str, sends) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(prefix + topic, value=value, key=key, partition=partition)
                   for topic, key, value, partition in sends]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def latest_by_key(records, loads=json.loads) -> dict[bytes, dict]:
    latest = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        latest[record.key] = loads(record.value) if record.value else None
    return latest


async def wait_for_changelog(bootstrap: str, topic: str, done, timeout_s: float = 120.0,
                             loads=json.loads) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        latest = latest_by_key(await read_all(bootstrap, topic), loads)
        if done(latest) or time.monotonic() > deadline:
            return latest
        await asyncio.sleep(1.0)


def comparable(state: dict) -> dict:
    """What must match exactly; first-watch times may differ for a moved (rerouted) minute."""
    return {"watch_events": state["watch_events"], "rate_events": state["rate_events"],
            "watched": sorted(state["watched"]), "rated": state["rated"]}


async def test_worker_ingests_exactly_what_was_sent(kafka_bootstrap: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix, app_id = f"it-{run}-", f"it-{run}"
    sends, expected_users, invalid = make_traffic()
    assert len(sends) >= 10_000 and sum(1 for s in sends if s[3] is not None) == len(sends)
    worker = Worker({
        "MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": prefix,
        "MOVIE_RECS_APP_ID": app_id, "MOVIE_RECS_WEB_PORT": str(free_port()),
        "MOVIE_RECS_DATA_DIR": str(tmp_path / "faust"), "MOVIE_RECS_SNAPSHOTS": f"file://{tmp_path / 'snap'}",
    }, tmp_path / "worker.log")
    worker.create_topics()  # as an operator would: every topic exists before producers and workers
    await produce(kafka_bootstrap, prefix, sends)
    worker.start()
    try:
        want = {user_key(u): comparable(s) for u, s in expected_users.items()}
        users = await wait_for_changelog(
            kafka_bootstrap, f"{app_id}-user_history-changelog",
            lambda latest: {k: comparable(v) for k, v in latest.items()} == want, loads=UserStateCodec().loads)
        assert {k: comparable(v) for k, v in users.items()} == want, worker.log_tail()

        want_items = {str(m).encode(): {k: v for k, v in s.items() if k != "last_ts"}
                      for m, s in expected_items(expected_users).items()}
        items = await wait_for_changelog(
            kafka_bootstrap, f"{app_id}-item_stats-changelog",
            lambda latest: {k: {f: v[f] for f in ("watchers", "ratings", "rating_sum")}
                            for k, v in latest.items()} == want_items)
        assert {k: {f: v[f] for f in ("watchers", "ratings", "rating_sum")}
                for k, v in items.items()} == want_items

        letters = [DEAD.decode(r.value) for r in await read_all(kafka_bootstrap, prefix + "dead-letters")]
        assert Counter((l["source_topic"], l["payload"]) for l in letters) == Counter(
            (prefix + topic, payload) for topic, payload in invalid)
        assert all(l["error"] for l in letters)

        worker.wait_web()
        some_user = next(iter(expected_users))
        status, body = worker.get(f"/users/{some_user}")
        assert status == 200
        summary = json.loads(body)
        assert summary["watch_events"] == expected_users[some_user]["watch_events"]
        assert worker.get("/users/abc")[0] == 400
    finally:
        worker.stop()
