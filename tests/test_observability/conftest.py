"""One worker, one Prometheus and one Alertmanager shared by the live tests (one module, test_live.py)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiokafka import AIOKafkaProducer

from tests.kafka_tools import Worker, free_port
from tests.test_integration.test_serving_kafka import frame_avro, registry_dir  # noqa: F401 - a fixture
from tests.test_observability.stack import Alertmanager, HttpSink, Prometheus, wait_until


@dataclass
class Observed:
    """The worker, what it said before it had a model, and the servers watching it."""

    worker: Worker
    app_id: str
    prefix: str
    early: list[tuple[str, int, Any]] = field(default_factory=list)
    """(path, status, body) of /metrics and /health asked before the model was there."""


async def produce(bootstrap: str, prefix: str, watches: list[dict], garbage: list[bytes]) -> None:
    """Valid watch events, and messages that are not events at all (dead letters)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for watch in watches:
            await producer.send_and_wait(prefix + "watch", frame_avro("WatchEvent", watch),
                                         key=str(watch["user_id"]).encode())
        for junk in garbage:
            await producer.send_and_wait(prefix + "watch", junk, key=b"7")
    finally:
        await producer.stop()


def ask(worker: Worker, path: str) -> tuple[int, Any]:
    status, body = worker.get(path)
    return status, (json.loads(body) if path == "/health" else body.decode())


@pytest.fixture(scope="module")
def observed(kafka_bootstrap: str, registry_dir: Path, otlp_sink: HttpSink,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """A worker started with an empty registry (it must answer scrapes without a model), then
    given the model, fed events and garbage, and asked for recommendations over HTTP."""
    tmp, run = tmp_path_factory.mktemp("observed"), uuid.uuid4().hex[:8]
    registry = tmp / "registry"
    registry.mkdir()
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"ob-{run}-",
           "MOVIE_RECS_APP_ID": f"ob-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
           "MOVIE_RECS_DATA_DIR": str(tmp / "faust"), "MOVIE_RECS_REGISTRY": f"file://{registry}",
           "MOVIE_RECS_SNAPSHOTS": f"file://{tmp / 'snapshots'}", "MOVIE_RECS_SERVE_MODEL": "als",
           "MOVIE_RECS_MODEL_RETRY_S": "1", "MOVIE_RECS_LAG_INTERVAL_S": "1",
           "MOVIE_RECS_PARTITIONS": "4", "MOVIE_RECS_STANDBY_REPLICAS": "0",
           "MOVIE_RECS_OTLP_ENDPOINT": otlp_sink.url, "OTEL_BSP_SCHEDULE_DELAY": "200",
           "MOVIE_RECS_FAIRNESS_GAUGE_INTERVAL_S": "1"}
    worker = Worker(env, tmp / "worker.log").create_topics().start()
    seen = Observed(worker, env["MOVIE_RECS_APP_ID"], env["MOVIE_RECS_TOPIC_PREFIX"])
    try:
        worker.wait_web(status=200)
        # Until the model arrives the worker recovers its tables, reads its lag, and runs without a model.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = ask(worker, "/health")
            seen.early += [("/metrics", *ask(worker, "/metrics")), ("/health", *health)]
            groups = health[1].get("lag", {}).get("groups", {}).values()
            if health[1].get("tables", {}).get("recovered") and groups and not any(g["stale"] for g in groups):
                break
            time.sleep(0.3)
        staged = tmp / "staged"
        shutil.copytree(registry_dir, staged)
        for entry in staged.iterdir():
            entry.rename(registry / entry.name)  # appears whole
        worker.wait_ready()
        now = int(time.time() * 1000)
        watches = [{"ts": now - 1000 * i, "user_id": 1 + i % 40, "movie_id": 1 + i % 90, "minute": 1}
                   for i in range(200)]
        asyncio.run(produce(kafka_bootstrap, seen.prefix, watches, [b"not avro at all", b"\x00\x00"]))
        for user in range(1, 41):
            assert worker.get(f"/recommend/{user}?k=5")[0] == 200
        yield seen
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def slack_sink() -> Iterator[HttpSink]:
    sink = HttpSink("/services/T0/B0/test-hook")
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def otlp_sink() -> Iterator[HttpSink]:
    """Where the worker exports its spans over OTLP/HTTP (protobuf bodies)."""
    sink = HttpSink("/v1/traces")
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def alertmanager(slack_sink: HttpSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager"), slack_sink.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dead_target() -> str:
    """A worker address nobody listens on: the scrape fails as it does for a crashed worker."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def prometheus(observed: Observed, alertmanager: Alertmanager, dead_target: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """docker/prometheus's config and rules, scraping the worker and a dead one every second."""
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{observed.worker.port}", dead_target],
                        alertmanager.address)
    wait_until(lambda: server.query('movierecs_consumer_lag{job="movie-recs-worker"}'), 90,
               "lag in prometheus")
    yield server
    server.stop()
