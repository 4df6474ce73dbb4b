"""Snapshots against the real broker and a real worker: SIGKILL mid-write, and an S3 outage.

Both tests check the snapshot set exactly: every valid event produced is in exactly one file
(its Kafka partition and offset appear once across all files, with the content that was
sent), no two files of a partition share an offset, and nothing else is there.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from app.partitioning import partition_of, user_key
from app.snapshots import SnapshotName, SnapshotRange, read_snapshot
from app.storage import FileStore, Store
from tests.kafka_tools import REPO, Worker, create_topics, free_port, read_all
from tests.s3server import CREDENTIALS, boto_client, s3_store_at, start_moto

pytestmark = [pytest.mark.kafka]

CODECS = {"watch": AvroCodec("WatchEvent"), "rate": AvroCodec("RateEvent")}
PARTITIONS = 8
T0 = 1_709_676_000_000 - 1_800_000  # 2024-03-05 21:30 UTC: the traffic crosses hour boundaries
TOPICS = ("watch", "rate", "watch-rerouted", "rate-rerouted", "item-interactions", "dead-letters",
          "movielog", "reco-requests")
Key = tuple[str, int, int]
"""(topic, partition, offset) of one event."""


def make_traffic(count: int, seed: int, start_ms: int) -> list[tuple[str, bytes, bytes, int, tuple | None]]:
    """(topic, key, value, partition, row or None) to send: valid events, a few strays and junk.

    One event in 40 goes to a partition that does not own its user (a CRC32 client); it
    is a valid event of the raw topic, so it is snapshotted there, once, and its rerouted
    copy is not. One message in 50 is junk, which is never snapshotted.
    """
    rng = random.Random(seed)
    sends = []
    for n in range(count):
        ts = start_ms + n * 800  # 10k events span about 2.2 hours of event time
        user, movie = rng.randint(1, 300), rng.randint(1, 2000)
        owner = partition_of(user_key(user), PARTITIONS)
        partition = (owner + 1) % PARTITIONS if rng.random() < 1 / 40 else owner
        if rng.random() < 1 / 50:
            sends.append((rng.choice(["watch", "rate"]), user_key(user), b"\x07junk", owner, None))
        elif rng.random() < 0.75:
            minute = rng.randint(0, 120)
            value = CODECS["watch"].encode({"ts": ts, "user_id": user, "movie_id": movie, "minute": minute})
            sends.append(("watch", user_key(user), value, partition, (ts, user, movie, minute)))
        else:
            rating = rng.randint(1, 5)
            value = CODECS["rate"].encode({"ts": ts, "user_id": user, "movie_id": movie, "rating": rating})
            sends.append(("rate", user_key(user), value, partition, (ts, user, movie, rating)))
    return sends


async def produce(bootstrap: str, prefix: str, sends: list) -> dict[Key, tuple]:
    """Send everything; the valid events by where Kafka put them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(prefix + topic, value=value, key=key, partition=partition)
                   for topic, key, value, partition, _ in sends]
        placed = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {(topic, meta.partition, meta.offset): row
            for (topic, _, _, _, row), meta in zip(sends, placed, strict=True) if row is not None}


async def snapshot_contents(store: Store) -> tuple[dict[Key, tuple], Any]:
    """What the snapshot set holds, after checking no offset is in two files."""
    snapshot = await read_snapshot(store, SnapshotRange())
    by_partition: dict[tuple[str, int], list[SnapshotName]] = {}
    for entry in snapshot.manifest.files:
        name = SnapshotName.parse(entry.key)
        by_partition.setdefault((name.topic, name.partition), []).append(name)
    for names in by_partition.values():
        names.sort(key=lambda n: n.first_offset)
        for before, after in zip(names, names[1:]):
            assert before.last_offset < after.first_offset, f"{before.key} and {after.key} overlap"
    held: dict[Key, tuple] = {}
    for topic, table in snapshot.tables.items():
        columns = [c for c in table.column_names if c not in ("partition", "offset")]
        values = list(zip(*(table[c].to_pylist() for c in columns)))
        places = zip(table["partition"].to_pylist(), table["offset"].to_pylist(), strict=True)
        for (partition, offset), row in zip(places, values, strict=True):
            held[topic, partition, offset] = row
    assert snapshot.manifest.rows == len(held), "an event is in the snapshot twice"
    return held, snapshot


def metric(worker: Worker, name: str) -> float:
    """The sum of a metric's samples, from the worker's /metrics."""
    status, body = worker.get("/metrics", timeout_s=2.0)
    assert status == 200
    pattern = re.compile(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(body.decode()))


def health(worker: Worker) -> tuple[int, dict]:
    status, body = worker.get("/health", timeout_s=3.0)
    return status, json.loads(body)


def wait_until(condition, timeout_s: float, what: str, worker: Worker, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except OSError:
            pass  # the web server is not up yet
        if worker.proc is not None and worker.proc.poll() is not None:
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{worker.log_tail()}")
        time.sleep(every_s)


def consumed(worker: Worker, already_filed: int, expected: int) -> bool:
    """Every valid event is in a file or in the sink's buffer (files of earlier runs included)."""
    written = metric(worker, "movierecs_snapshot_rows_written_total")
    buffered = metric(worker, "movierecs_snapshot_buffered_events")
    return already_filed + written + buffered == expected


def cli(env: dict[str, str], *args: str) -> str:
    """Run ``movie-recs <args>`` with the worker's settings; its standard output."""
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def worker_env(bootstrap: str, run: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MOVIE_RECS_KAFKA_BOOTSTRAP": bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"it-{run}-",
        "MOVIE_RECS_APP_ID": f"it-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
        "MOVIE_RECS_DATA_DIR": str(tmp_path / "faust"), "MOVIE_RECS_PARTITIONS": str(PARTITIONS),
        # A killed member holds its partitions until its session expires (Faust's default is 60 s).
        "BROKER_SESSION_TIMEOUT": "6",
        # the clean stop writes the open batches these tests count: give it room on a loaded machine
        "MOVIE_RECS_STOP_TIMEOUT_S": "90",
        **extra,
    }


@pytest.mark.timeout(120)
async def test_sigkill_mid_write_then_restart_keeps_every_event_exactly_once(
    kafka_bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = uuid.uuid4().hex[:8]
    root = tmp_path / "snapshots"
    env = worker_env(kafka_bootstrap, run, tmp_path, MOVIE_RECS_SNAPSHOTS=f"file://{root}",
                     MOVIE_RECS_SNAPSHOT_MAX_EVENTS="150")
    prefix = env["MOVIE_RECS_TOPIC_PREFIX"]
    await create_topics(kafka_bootstrap, [prefix + t for t in TOPICS], PARTITIONS)
    expected = await produce(kafka_bootstrap, prefix, make_traffic(10_000, seed=1, start_ms=T0))

    store = FileStore(root)
    filed: dict[Key, tuple] = {}
    hashes: dict[str, str] = {}
    # Files of 150 events keep the sink writing all the time, so each kill lands mid-stream.
    for number, files_at_kill in enumerate((12, 36), start=1):
        worker = Worker(env, tmp_path / f"worker-{number}.log").start()
        try:
            wait_until(lambda: len(list(root.rglob("*.parquet"))) >= files_at_kill, 60,
                       f"{files_at_kill} files", worker, every_s=0.02)
        finally:
            worker.stop(signal.SIGKILL)
        now_filed, snapshot = await snapshot_contents(store)
        assert len(filed) < len(now_filed) < len(expected), "the kill did not land mid-stream"
        assert all(expected[key] == row for key, row in now_filed.items())
        now_hashes = {entry.key: entry.sha256 for entry in snapshot.manifest.files}
        assert {key: now_hashes.get(key) for key in hashes} == hashes  # earlier files unchanged
        filed, hashes = now_filed, now_hashes
        if number == 1:  # traffic goes on while the worker is down
            expected.update(await produce(kafka_bootstrap, prefix,
                                          make_traffic(2_000, seed=2, start_ms=T0 + 8_000_000)))

    last = Worker(env, tmp_path / "worker-3.log").start()
    try:
        wait_until(lambda: consumed(last, len(filed), len(expected)), 60, "the sink to catch up", last)
        # Only the sink's part: other checks (models, tables) have their own tests.
        snapshots = health(last)[1]["snapshots"]
        assert snapshots["running"] and snapshots["store_available"] and not snapshots["last_error"]
    finally:
        last.stop(timeout_s=100)  # SIGTERM: the open batches are written
    assert last.proc.returncode == 0, last.log_tail()

    held, snapshot = await snapshot_contents(store)
    assert held == expected
    assert not snapshot.manifest.skipped

    # The CLI: the manifest a training run records, and a replay of one hour for a backfill.
    listed = json.loads(cli(env, "snapshots", "manifest", "--json"))
    assert (listed["snapshot_id"], listed["rows"]) == (snapshot.manifest.snapshot_id, len(expected))
    since, until = "2024-03-05T22", "2024-03-05T23"
    replayed = json.loads(cli(env, "snapshots", "replay", "--topic", "rate", "--to-topic", "rate-replayed",
                              "--since", since, "--until", until))
    window = {row for (topic, _, _), row in expected.items()
              if topic == "rate" and T0 + 1_800_000 <= row[0] < T0 + 5_400_000}
    sent = [CODECS["rate"].decode(r.value) for r in await read_all(kafka_bootstrap, prefix + "rate-replayed")]
    assert replayed["events"] == len(sent) == len(window) > 0
    assert {(e["ts"], e["user_id"], e["movie_id"], e["rating"]) for e in sent} == window

    # Compacted, the same events are there exactly once, in far fewer files.
    reports = [json.loads(line) for line in cli(env, "snapshots", "compact").splitlines()]
    assert sum(r["merged"] for r in reports) > 0 and not any(r["failed"] for r in reports)
    held, compacted = await snapshot_contents(store)
    assert held == expected and len(compacted.manifest.files) < len(snapshot.manifest.files) / 3
    snapshot = compacted

    # (c) A crash outside our naming leaves a truncated Parquet file; a corrupt one squats on a
    # snapshot name. Readers skip both with a warning, never serving them.
    real = snapshot.manifest.files[0]
    data = (root / real.key).read_bytes()
    folder = (root / real.key).parent
    (folder / "part-0-from-a-crashed-tool.parquet").write_bytes(data[: len(data) // 2])
    squatter = SnapshotName("watch", SnapshotName.parse(real.key).hour + 1000, 0, 10**9, 10**9 + 5)
    (root / squatter.key).parent.mkdir(parents=True)
    (root / squatter.key).write_bytes(data[:-20])
    with caplog.at_level(logging.WARNING, logger="app.snapshots"):
        held_again, again = await snapshot_contents(store)
    assert held_again == expected
    assert sorted(s.key for s in again.manifest.skipped) == sorted(
        [f"{real.key.rpartition('/')[0]}/part-0-from-a-crashed-tool.parquet", squatter.key])
    assert sum("skipped, not served" in r.getMessage() for r in caplog.records) == 2


def on_disk(root: Path) -> list[SnapshotName]:
    return [SnapshotName.parse(str(p.relative_to(root))) for p in root.rglob("*.parquet")]


@pytest.mark.timeout(180)
async def test_sigkill_mid_compaction_beside_a_live_worker_loses_and_doubles_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    root = tmp_path / "snapshots"
    env = worker_env(kafka_bootstrap, run, tmp_path, MOVIE_RECS_SNAPSHOTS=f"file://{root}",
                     MOVIE_RECS_SNAPSHOT_MAX_EVENTS="20", MOVIE_RECS_SNAPSHOT_COMPACT_INTERVAL_S="0")
    prefix = env["MOVIE_RECS_TOPIC_PREFIX"]
    await create_topics(kafka_bootstrap, [prefix + t for t in TOPICS], PARTITIONS)
    expected = await produce(kafka_bootstrap, prefix, make_traffic(3_000, seed=3, start_ms=T0))
    store = FileStore(root)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        wait_until(lambda: consumed(worker, 0, len(expected)), 90, "the sink to file the first traffic", worker)
        # More traffic while compactions run and are killed: the sink keeps writing beside them.
        more = asyncio.create_task(produce(kafka_bootstrap, prefix, make_traffic(1_500, seed=4, start_ms=T0 + 9_000_000)))
        mid_kills = 0
        for merged_at_kill in (1, 4, 9):
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "snapshots", "compact"], cwd=REPO,
                                    env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if sum(n.hours > 1 for n in on_disk(root)) >= merged_at_kill:
                    proc.kill()  # SIGKILL right after a merged file's put, mid-way through the run
                    break
                await asyncio.sleep(0.005)
            proc.wait()
            mid_kills += proc.returncode == -signal.SIGKILL
            # Whatever the kill left (runs merged, a run's inputs not yet deleted, runs not
            # started), readers see no offset in two files and no row twice.
            held, _ = await snapshot_contents(store)
            assert all(expected.get(key, row) == row for key, row in held.items())
        # (The crash right between a merged file's put and its inputs' deletes, too short a
        # moment to hit with a signal, is made exact in tests/test_snapshots/test_compaction.py.)
        assert mid_kills >= 1, "every compaction finished before it could be killed"
        expected.update(await more)
        wait_until(lambda: consumed(worker, 0, len(expected)), 90, "the sink to file the second traffic", worker)
    finally:
        worker.stop()
    assert worker.proc.returncode == 0, worker.log_tail()
    cli(env, "snapshots", "compact", "--min-age-hours", "0")
    held, snapshot = await snapshot_contents(store)
    assert held == expected
    names = on_disk(root)
    assert not any(a.covers(b) for a in names for b in names), "covered inputs were left behind"
    assert len(snapshot.manifest.files) <= 2 * len(TOPICS) * PARTITIONS


@pytest.mark.s3
@pytest.mark.timeout(120)
async def test_s3_outage_holds_pauses_retries_and_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    # moto runs in this process: stopping its server is a real outage (connections refused),
    # and a server started again on the same port serves the same in-process state, as S3
    # keeps its objects through a network outage. The bucket is made once, before the run.
    port = free_port()
    moto = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"snapshots-{uuid.uuid4().hex[:12]}"
    boto_client(endpoint).create_bucket(Bucket=bucket)
    run = uuid.uuid4().hex[:8]
    bound = 1_500
    env = worker_env(
        kafka_bootstrap, run, tmp_path,
        MOVIE_RECS_SNAPSHOTS=f"s3://{bucket}/snaps", MOVIE_RECS_S3_ENDPOINT_URL=endpoint,
        MOVIE_RECS_S3_REGION=CREDENTIALS["region_name"],
        MOVIE_RECS_S3_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        MOVIE_RECS_S3_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
        MOVIE_RECS_SNAPSHOT_MAX_EVENTS="200", MOVIE_RECS_SNAPSHOT_MAX_BUFFERED_EVENTS=str(bound),
        MOVIE_RECS_STORE_RETRY_ATTEMPTS="2", MOVIE_RECS_STORE_RETRY_BASE_S="0.1",
        MOVIE_RECS_STORE_RETRY_MAX_S="0.5",
    )
    prefix = env["MOVIE_RECS_TOPIC_PREFIX"]
    await create_topics(kafka_bootstrap, [prefix + t for t in TOPICS], PARTITIONS)
    expected = await produce(kafka_bootstrap, prefix, make_traffic(2_000, seed=3, start_ms=T0))
    store = s3_store_at(endpoint, bucket, "snaps")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        wait_until(lambda: consumed(worker, 0, len(expected)), 60, "the first events", worker)
        assert health(worker)[1]["snapshots"]["store_available"]

        moto.stop()
        more = await produce(kafka_bootstrap, prefix, make_traffic(8_000, seed=4, start_ms=T0 + 1_700_000))
        expected.update(more)
        wait_until(lambda: health(worker)[1]["snapshots"]["paused"], 30, "the sink to pause", worker)
        status, body = health(worker)
        assert status == 503 and body["status"] == "unavailable"
        assert not body["snapshots"]["store_available"] and body["snapshots"]["retries"] > 0
        assert "StoreUnavailable" in body["snapshots"]["last_error"]
        assert metric(worker, "movierecs_snapshot_store_available") == 0
        assert metric(worker, "movierecs_snapshot_store_errors_total") > 0
        assert metric(worker, "movierecs_snapshot_consumption_paused") == 1
        # Paused: the buffer stops growing, short of the traffic (it overshoots by a poll at most).
        held = metric(worker, "movierecs_snapshot_buffered_events")
        time.sleep(2.0)
        assert metric(worker, "movierecs_snapshot_buffered_events") == held
        written = metric(worker, "movierecs_snapshot_rows_written_total")
        assert bound <= held < len(expected) - written

        moto = start_moto(port)
        wait_until(lambda: health(worker)[1]["snapshots"]["store_available"], 30, "the store back", worker)
        wait_until(lambda: consumed(worker, 0, len(expected)), 60, "the sink to catch up", worker)
        assert metric(worker, "movierecs_snapshot_consumption_paused") == 0
    finally:
        worker.stop()
    try:
        assert worker.proc.returncode == 0, worker.log_tail()
        contents, snapshot = await snapshot_contents(store)
        assert contents == expected and not snapshot.manifest.skipped
    finally:
        await store.close()
        with contextlib.suppress(Exception):  # already stopped if the test failed mid-outage
            moto.stop()
