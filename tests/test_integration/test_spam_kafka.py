"""Spam detection end to end on the real broker: two workers, four partitions, simulated ratings.

One module-scoped pair of workers gets one stream, whose event times are fixed so that three
windows close deterministically (ticks on every partition, later than all of them, close
them). The tests then read what the workers decided: flags on ``user-flags``, thresholds on
``spam-thresholds``, the quarantine at ``/users/{id}`` and in metrics; then a restart, clears.
"""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from app.partitioning import partition_of, user_key
from app.settings import Settings
from app.spam.quarantine import quarantined_users
from app.spam.rules import plain_threshold, verdict
from models.data.events import RATE_TOPIC, build_stream
from models.data.synthetic import generate
from tests.kafka_tools import REPO, Worker, free_port, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

RATE, FLAG, DEAD = AvroCodec("RateEvent"), AvroCodec("UserFlag"), AvroCodec("DeadLetter")
PARTITIONS, FLOOR = 4, 30
W = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: windows A = [T0, T0+W), B, C follow
TOKEN = "spam-test-admin-token"
QUIET_BURST = 60  # above the floor and the robust threshold, below mean + 3 sigma


@dataclass
class Scenario:
    """What was sent, and who is expected to be flagged."""

    counts: dict[int, dict[int, int]]  # window start -> user -> rate events
    loud: list[int]  # the simulator's two spam accounts, on partitions of different workers
    quiet: int  # a moderate spammer the plain rule misses
    split: int  # 40 + 40 across the B/C boundary: flagged in both windows
    hidden: int  # 20 + 20 across the B/C boundary: under the floor in each window
    normal: set[int]


def owned_partitions(worker: Worker) -> dict[int, set[int]]:
    """Port -> partitions of the quarantine table each worker of the group owns (Faust's router)."""
    status, body = worker.get("/router/spam_quarantine/")
    assert status == 200, body
    owned: dict[int, set[int]] = {}
    for url, topics in json.loads(body).items():
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        owned[port] = {p for parts in topics.values() for p in parts}
    return owned


def ids_on(partitions: set[int], start: int, n: int) -> list[int]:
    """The first ``n`` user ids from ``start`` whose partition is in ``partitions``."""
    found, user = [], start
    while len(found) < n:
        if partition_of(user_key(user), PARTITIONS) in partitions:
            found.append(user)
        user += 1
    return found


def make_stream(owned: list[set[int]]) -> tuple[list[tuple[int, int, int]], Scenario]:
    """Rate events ``(ts, user, movie)`` in time order, and the scenario.

    Window A: the simulator's ratings of 300 synthetic users (each user's first few
    interactions, times folded into the window) with its two spam bursts of 300, whose ids
    are moved onto partitions of different workers, plus a quiet spammer. Windows B and C:
    light honest traffic and two bursts that straddle the boundary.
    """
    frame, _ = generate(seed=3)
    rng = np.random.default_rng(3)
    users = np.sort(frame["user_id"].unique())[:300]
    chosen = frame[frame["user_id"].isin(users)].sort_values("ts", kind="stable")
    keep = dict(zip(users.tolist(), rng.integers(1, 9, users.size).tolist()))
    firsts = chosen[chosen.groupby("user_id").cumcount() < chosen["user_id"].map(keep)]
    stream = build_stream(firsts, seed=3, max_minutes=1, request_share=0.0, spam_users=2, spam_burst=300)
    loud = [ids_on(owned[0], 50_000, 1)[0], ids_on(owned[1], 60_000, 1)[0]]
    rename = dict(zip(sorted(stream.spammers), loud))
    events = [(T0 + value["ts"] % W, rename.get(value["user_id"], value["user_id"]), value["movie_id"])
              for topic, _, value in stream if topic == RATE_TOPIC]
    quiet, split, hidden = 70_001, 70_002, 70_003
    events += [(T0 + 600_000 + i * 1000, quiet, 1 + i) for i in range(QUIET_BURST)]
    boundary = T0 + 2 * W
    for user, half in ((split, 40), (hidden, 20)):
        events += [(boundary - 600_000 + i * 5000, user, 1 + i) for i in range(half)]
        events += [(boundary + i * 5000, user, 100 + i) for i in range(half)]
    honest = [int(u) for u in users[:40]]
    for start in (T0 + W, T0 + 2 * W):  # a few honest ratings in B and C on every partition
        events += [(start + 60_000 * (i % 50), user, 500 + i) for i, user in enumerate(honest * 2)]
    counts: dict[int, dict[int, int]] = {}
    for ts, user, _ in events:
        window = counts.setdefault(ts - ts % W, {})
        window[user] = window.get(user, 0) + 1
    ticks = [(T0 + 3 * W + 600_000, user, 1) for user in
             [ids_on({p}, 80_000, 1)[0] for p in range(PARTITIONS)]]
    normal = {user for window in counts.values() for user in window} - {*loud, quiet, split, hidden}
    return sorted(events) + ticks, Scenario(counts, loud, quiet, split, hidden, normal)


async def produce(bootstrap: str, topic: str, events: list[tuple[int, int, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        for ts, user, movie in events:
            value = RATE.encode({"ts": ts, "user_id": user, "movie_id": movie, "rating": 5})
            await producer.send(topic, value, key=user_key(user))
        await producer.flush()
    finally:
        await producer.stop()


def flags(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """Every flag on the topic, in a fixed order (each user's in topic order)."""
    records = sorted(asyncio.run(read_all(bootstrap, f"{prefix}user-flags")), key=lambda r: (r.partition, r.offset))
    return [FLAG.decode(r.value) for r in records]


def wait_for(check: Any, what: str, timeout_s: float = 120.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1.0)
    raise TimeoutError(f"{what} not within {timeout_s}s")


def user_view(worker: Worker, user: int) -> dict[str, Any]:
    status, body = worker.get(f"/users/{user}")
    assert status == 200, body
    return json.loads(body)


def quarantined_on(worker: Worker, user: int) -> bool | None:
    """Whether ``worker`` shows ``user`` quarantined; None while it cannot say (a rebalance: 503)."""
    status, body = worker.get(f"/users/{user}")
    return json.loads(body)["spam"]["quarantined"] if status == 200 else None


def metric(worker: Worker, name: str) -> float:
    status, body = worker.get("/metrics")
    found = re.search(rb"^" + re.escape(name.encode()) + rb" ([0-9.e+-]+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def cluster(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two workers of one group that have processed the scenario's stream."""
    tmp = tmp_path_factory.mktemp("spam")
    run = uuid.uuid4().hex[:8]
    prefix = f"spam-{run}-"
    common = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": prefix,
              "MOVIE_RECS_APP_ID": f"spam-{run}", "MOVIE_RECS_PARTITIONS": str(PARTITIONS),
              "MOVIE_RECS_SNAPSHOT_ENABLED": "false", "MOVIE_RECS_REGISTRY": f"file://{tmp / 'registry'}",
              "MOVIE_RECS_SPAM_FLOOR": str(FLOOR), "MOVIE_RECS_ADMIN_TOKEN": TOKEN}
    workers = [Worker({**common, "MOVIE_RECS_WEB_PORT": str(free_port()),
                       "MOVIE_RECS_DATA_DIR": str(tmp / name)}, tmp / f"{name}.log") for name in "ab"]
    a, b = workers
    try:
        a.create_topics().start().wait_web(status=200)
        b.start().wait_web(status=200)
        owned = wait_for(lambda: (lambda o: o if len(o) == 2 and all(o.values()) else None)(owned_partitions(a)),
                         "both workers owning partitions", 90)
        events, scenario = make_stream([owned[a.port], owned[b.port]])
        asyncio.run(produce(kafka_bootstrap, f"{prefix}rate", events))
        expected = 2 + 1 + 2  # loud x2, quiet, split twice
        wait_for(lambda: len(flags(kafka_bootstrap, prefix)) >= expected, "the flags of windows A-C", 150)
        yield {"a": a, "b": b, "prefix": prefix, "bootstrap": kafka_bootstrap, "scenario": scenario,
               "owned": owned, "env": {**common}}
    finally:
        for worker in workers:
            worker.stop()


def test_spammers_on_two_workers_flagged_and_no_normal_user(cluster: dict[str, Any]) -> None:
    s: Scenario = cluster["scenario"]
    found = flags(cluster["bootstrap"], cluster["prefix"])
    assert len(s.normal) >= 300
    assert {f["user_id"] for f in found} == {*s.loud, s.quiet, s.split}
    assert not {f["user_id"] for f in found} & s.normal
    a, b = cluster["a"], cluster["b"]
    assert [partition_of(user_key(u), PARTITIONS) in cluster["owned"][w.port] for u, w in zip(s.loud, (a, b))] == [True, True]
    for user in s.loud:
        (flag,) = [f for f in found if f["user_id"] == user]
        assert (flag["action"], flag["window_start"], flag["event_count"]) == ("quarantined", T0, 300)
        for worker in (a, b):  # either worker answers, the owner's table is the source
            view = user_view(worker, user)
            assert view["spam"]["quarantined"] and view["spam"]["last_flag"]["event_count"] == 300
    assert not user_view(b, sorted(s.normal)[0])["spam"]["quarantined"]
    # Each worker owns one of the loud spammers' partitions: both report quarantined users.
    assert metric(a, "movierecs_spam_quarantined_users") >= 1 and metric(b, "movierecs_spam_quarantined_users") >= 1
    assert sum(metric(w, "movierecs_spam_quarantined_users") for w in (a, b)) == 4


def test_robust_rule_catches_the_spammer_mean_plus_3_sigma_misses(cluster: dict[str, Any]) -> None:
    s: Scenario = cluster["scenario"]
    window_a = s.counts[T0]
    histogram: dict[int, int] = {}
    for count in window_a.values():
        histogram[count] = histogram.get(count, 0) + 1
    robust, plain = verdict(histogram, FLOOR, T0, T0 + W), plain_threshold(histogram)
    assert robust.threshold < QUIET_BURST < plain  # the loud bursts inflate sigma; the median holds
    # The workers computed the same figures over the partitions they merged.
    decided = [json.loads(r.value) for r in
               asyncio.run(read_all(cluster["bootstrap"], f"{cluster['prefix']}spam-thresholds"))]
    (sent,) = {json.dumps(d, sort_keys=True) for d in decided if d["window_start"] == T0}
    sent = json.loads(sent)
    assert sent["population"] == len(window_a) and sent["threshold"] == pytest.approx(robust.threshold)
    assert sent["plain_threshold"] == pytest.approx(plain)
    (flag,) = [f for f in flags(cluster["bootstrap"], cluster["prefix"]) if f["user_id"] == s.quiet]
    assert flag["event_count"] == QUIET_BURST and flag["event_count"] < sent["plain_threshold"]


def test_a_burst_split_across_two_windows(cluster: dict[str, Any]) -> None:
    s: Scenario = cluster["scenario"]
    split = [f for f in flags(cluster["bootstrap"], cluster["prefix"]) if f["user_id"] == s.split]
    # Each window sees its half (40, above the floor): quarantined once, then flagged again.
    assert [(f["window_start"], f["event_count"], f["action"]) for f in split] == [
        (T0 + W, 40, "quarantined"), (T0 + 2 * W, 40, "flagged")]
    assert user_view(cluster["a"], s.split)["spam"]["detections"] == 2
    # Tumbling windows' blind spot: 40 ratings in 20 minutes, 20 in each window, under the floor.
    assert s.counts[T0 + W][s.hidden] == s.counts[T0 + 2 * W][s.hidden] == 20
    assert not user_view(cluster["a"], s.hidden)["spam"]["quarantined"]


def test_flags_and_quarantine_survive_a_restart_and_clear(cluster: dict[str, Any]) -> None:
    s: Scenario = cluster["scenario"]
    a, b = cluster["a"], cluster["b"]
    before = flags(cluster["bootstrap"], cluster["prefix"])
    b.stop()
    b.start().wait_web(status=200)
    quarantined = {*s.loud, s.quiet, s.split}
    wait_for(lambda: all(quarantined_on(w, u) for w in (a, b) for u in quarantined),
             "the quarantine after the restart", 120)
    wait_for(lambda: sum(metric(w, "movierecs_spam_quarantined_users") for w in (a, b)) == 4,
             "the quarantine gauge after the restart", 60)
    assert flags(cluster["bootstrap"], cluster["prefix"]) == before  # the restart re-flagged nobody
    settings = Settings(kafka_bootstrap=cluster["bootstrap"], topic_prefix=cluster["prefix"])
    assert asyncio.run(quarantined_users(settings)) == quarantined

    # Garbage on user-flags is dead-lettered with its reason; the workers go on.
    async def garbage() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=cluster["bootstrap"])
        await producer.start()
        try:
            await producer.send_and_wait(f"{cluster['prefix']}user-flags", b"\x00\x00\x00\x00\x09junk", key=b"5",
                                         partition=partition_of(b"5", PARTITIONS))
        finally:
            await producer.stop()
    asyncio.run(garbage())
    dead = wait_for(lambda: [d for d in (DEAD.decode(r.value) for r in asyncio.run(
        read_all(cluster["bootstrap"], f"{cluster['prefix']}dead-letters"))) if d["source_topic"].endswith("user-flags")],
        "the dead letter of a bad flag", 60)
    assert dead[0]["payload"].endswith(b"junk") and dead[0]["error"]

    # Clear one over HTTP (admin token) and one with the CLI; both become cleared flags.
    url = f"http://127.0.0.1:{a.port}/users/{s.loud[1]}/clear"
    refused = urllib.request.Request(url, method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(refused, timeout=10)
    assert denied.value.code == 401
    allowed = urllib.request.Request(url, method="POST", data=b"", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(allowed, timeout=10) as response:
        assert response.status == 202
    subprocess.run([sys.executable, "-m", "app.cli", "users", "clear", str(s.quiet)], cwd=REPO,
                   env={**a.env}, check=True, capture_output=True, timeout=60)
    wait_for(lambda: all(quarantined_on(b, u) is False for u in (s.loud[1], s.quiet)),
             "the clears on /users", 60)
    assert asyncio.run(quarantined_users(settings)) == {s.loud[0], s.split}
    assert metric(a, 'movierecs_spam_flags_total{action="cleared"}') + \
        metric(b, 'movierecs_spam_flags_total{action="cleared"}') == 2
