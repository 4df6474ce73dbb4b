"""A worker stops within its bound with the broker gone, and loses nothing: against a broker of our own.

The shared broker must never be stopped, so this module starts a second one on free ports
with its own data directory (docker/kafka/local-kafka.sh), and stops only that one.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from app.partitioning import user_key
from app.snapshots import SnapshotRange, read_snapshot
from app.storage import FileStore
from tests.kafka_tools import REPO, Worker, broker_answers, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
SCRIPT = REPO / "docker" / "kafka" / "local-kafka.sh"
WATCH = AvroCodec("WatchEvent")
T0 = 1_704_067_200_000
STOP_TIMEOUT_S = 8


class OwnBroker:
    """A broker only this test uses: started and stopped by its own data directory's pidfile."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "MOVIE_RECS_KAFKA_DATA": str(data), "MOVIE_RECS_KAFKA_PORT": str(self.port),
                    "MOVIE_RECS_KAFKA_CONTROLLER_PORT": str(free_port())}
        self.bootstrap = f"127.0.0.1:{self.port}"

    def run(self, command: str) -> None:
        done = subprocess.run(["bash", str(SCRIPT), command], env=self.env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory):
    broker = OwnBroker(tmp_path_factory.mktemp("kafka"))
    broker.run("start")
    try:
        yield broker
    finally:
        broker.run("stop")


async def send_watches(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(count):
            user = 1 + n % 20
            await producer.send(topic, WATCH.encode({"ts": T0 + n * 1000, "user_id": user, "movie_id": 1 + n,
                                                     "minute": 0}), key=user_key(user))
        await producer.flush()
    finally:
        await producer.stop()


def watch_events(worker: Worker) -> int:
    """Watch events the worker's table holds over the test's users; -1 until it can answer."""
    total = 0
    for user in range(1, 21):
        status, body = worker.get(f"/users/{user}")
        if status != 200:
            return -1
        total += json.loads(body).get("watch_events") or 0
    return total


def sink_holds(worker: Worker) -> float:
    """Events the snapshot sink of this process has filed or buffered."""
    body = worker.get("/metrics")[1].decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(("movierecs_snapshot_rows_written_total", "movierecs_snapshot_buffered_events")))


def test_worker_stops_within_its_bound_with_the_broker_gone_and_replays_what_was_not_committed(
        own_broker: OwnBroker, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": own_broker.bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"st-{run}-",
           "MOVIE_RECS_APP_ID": f"st-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
           "MOVIE_RECS_DATA_DIR": str(tmp_path / "faust"), "MOVIE_RECS_SNAPSHOTS": f"file://{tmp_path / 'snaps'}",
           "MOVIE_RECS_REGISTRY": f"file://{tmp_path / 'registry'}", "MOVIE_RECS_STOP_TIMEOUT_S": str(STOP_TIMEOUT_S),
           "MOVIE_RECS_STANDBY_REPLICAS": "0", "MOVIE_RECS_PARTITIONS": "4"}
    first = Worker(env, tmp_path / "first.log").create_topics().start()
    try:
        first.wait_web(120, "/metrics", 200)
        asyncio.run(send_watches(own_broker.bootstrap, env["MOVIE_RECS_TOPIC_PREFIX"] + "watch", 300))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and watch_events(first) < 300:
            time.sleep(0.5)
        assert watch_events(first) == 300, first.log_tail()
        own_broker.run("stop")
        assert not broker_answers(own_broker.bootstrap, timeout_s=2)
        started = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(STOP_TIMEOUT_S + 20)
        took = time.monotonic() - started
    finally:
        first.stop(signal.SIGKILL)
        own_broker.run("start")  # for the rest of the test, and idempotent for the fixture's stop
    assert took <= STOP_TIMEOUT_S + 10, f"stop took {took:.1f}s:\n{first.log_tail()}"
    assert "did not stop within" in first.log_path.read_text() or first.proc.returncode == 0

    second = Worker(env, tmp_path / "second.log").start()
    try:
        second.wait_web(120, "/metrics", 200)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and watch_events(second) != 300:
            time.sleep(0.5)
        assert watch_events(second) == 300, second.log_tail()  # each event counted once, none lost
        deadline = time.monotonic() + 90  # the sink, which committed nothing, consumes them again
        while time.monotonic() < deadline and sink_holds(second) < 300:
            time.sleep(0.5)
        assert sink_holds(second) == 300, second.log_tail()
        second.stop()
    finally:
        second.stop(signal.SIGKILL)
    assert second.proc.returncode == 0, second.log_tail()
    snapshot = asyncio.run(read_snapshot(FileStore(tmp_path / "snaps"), SnapshotRange(topics=("watch",))))
    offsets = list(zip(snapshot.tables["watch"]["partition"].to_pylist(), snapshot.tables["watch"]["offset"].to_pylist()))
    assert len(offsets) == len(set(offsets)) == 300
