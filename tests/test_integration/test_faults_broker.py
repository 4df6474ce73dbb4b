"""The broker stops for 20 s and starts again: the workers reconnect by themselves, nothing is
lost, and /health says unavailable meanwhile and ok after.

This test runs a broker of its own (``docker/kafka/local-kafka.sh`` with its own data
directory and ports): the shared broker is never stopped.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.kafka_tools import REPO, broker_answers, free_port
from tests.test_integration.faults import Answers, Group, events, expected_per_user, produce, reco_request
from tests.test_integration.test_serving_kafka import registry_dir  # noqa: F401 - module fixture

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(480)]
SCRIPT = REPO / "docker" / "kafka" / "local-kafka.sh"
OUTAGE_S = 20.0


class OwnBroker:
    """A single-node broker on free ports with its own data directory."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "MOVIE_RECS_KAFKA_DATA": str(data), "MOVIE_RECS_KAFKA_PORT": str(self.port),
                    "MOVIE_RECS_KAFKA_CONTROLLER_PORT": str(free_port()),
                    "MOVIE_RECS_KAFKA_START_TIMEOUT": "240"}  # a JVM start on a loaded 2-core box
        self.bootstrap = f"127.0.0.1:{self.port}"

    def run(self, action: str) -> None:
        done = subprocess.run(["bash", str(SCRIPT), action], env=self.env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, f"local-kafka.sh {action}: {done.stdout}{done.stderr}"


async def test_broker_outage(registry_dir: Path, tmp_path: Path, kafka_bootstrap: str) -> None:  # noqa: F811
    broker = OwnBroker(tmp_path / "kafka")
    broker.run("start")
    group = Group(broker.bootstrap, tmp_path, registry_dir)
    before, after = events(800, seed=4), events(800, seed=5)
    try:
        group.start("b1", "b2")
        await asyncio.to_thread(group.settle)
        await produce(broker.bootstrap, group.prefix, before)
        b1 = group.workers["b1"]

        broker.run("stop")
        stopped = time.monotonic()
        seen_down = False
        while time.monotonic() - stopped < OUTAGE_S:
            status, body = group.health(b1)
            seen_down |= status == 503 and body.get("status") == "unavailable" and body.get("kafka") is False
            await asyncio.sleep(1.0)
        assert seen_down, "/health never said the broker was unavailable"
        assert all(w.proc.poll() is None for w in group.workers.values()), "a worker died in the outage"
        broker.run("start")
        assert await asyncio.to_thread(broker_answers, broker.bootstrap)

        await asyncio.to_thread(group.settle)  # ok again, by themselves
        async with Answers(broker.bootstrap, group.prefix) as answers:
            asked = [reco_request(u) for u in range(1, 11)]
            await produce(broker.bootstrap, group.prefix, after + [("reco-requests", r) for r in asked])
            assert await answers.wait({r["request_id"] for r in asked}, 90) == set()
        sent = before + after
        deadline = time.monotonic() + 120
        while (counts := await asyncio.to_thread(group.counts_per_user, b1)) != expected_per_user(sent):
            assert time.monotonic() < deadline, f"tables hold {sum(counts.values())} events, {len(sent)} were sent"
            await asyncio.sleep(2.0)
        print(f"\nproduced {len(sent)} events around a {OUTAGE_S:.0f}s broker outage and {len(asked)} requests; "
              f"tables hold {sum(counts.values())} events, all {len(asked)} requests answered")
    finally:
        group.stop_all()
        broker.run("stop")
