"""The catalog against the real broker: loaded from the CLI, kept by two workers, read by training."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from tests.kafka_tools import REPO, Worker, free_port, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
DEAD = AvroCodec("DeadLetter")


def catalog_size(worker: Worker) -> float:
    found = re.search(rb"^movierecs_catalog_movies (\S+)$", worker.get("/metrics")[1], re.M)
    return float(found.group(1)) if found else -1.0


def test_every_worker_holds_the_catalog_and_bad_records_are_dead_lettered(kafka_bootstrap: str,
                                                                          tmp_path: Path) -> None:
    prefix = f"t-cat-{uuid.uuid4().hex[:8]}-"
    base = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": prefix,
            "MOVIE_RECS_APP_ID": prefix + "app", "MOVIE_RECS_SNAPSHOT_ENABLED": "false",
            "MOVIE_RECS_REGISTRY": f"file://{tmp_path}/registry", "MOVIE_RECS_STANDBY_REPLICAS": "0"}
    workers = [Worker({**base, "MOVIE_RECS_WEB_PORT": str(free_port()), "MOVIE_RECS_DATA_DIR": str(tmp_path / f"w{n}"),
                       "MOVIE_RECS_WORKER_ID": f"w{n}"}, tmp_path / f"w{n}.log") for n in range(2)]
    env = {**os.environ, **base}
    loaded = subprocess.run([sys.executable, "-m", "app.cli", "catalog", "load", "synthetic"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert "sent 1700 movies" in loaded.stdout

    async def bad() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        await producer.send_and_wait(prefix + "movies", b"\x07not avro", key=b"5000")
        await producer.stop()
    asyncio.run(bad())
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_web(90, "/metrics", 200)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(catalog_size(w) != 1700 for w in workers):
            time.sleep(1)
        assert [catalog_size(w) for w in workers] == [1700, 1700], workers[0].log_tail()
        letters = [DEAD.decode(r.value) for r in asyncio.run(read_all(kafka_bootstrap, prefix + "dead-letters"))]
        assert [(x["source_topic"], x["payload"]) for x in letters] == [(prefix + "movies", b"\x07not avro")]
        shown = subprocess.run([sys.executable, "-m", "app.cli", "catalog", "show", "1"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=60)
        assert '"movie_id": 1' in shown.stdout and '"genres": [' in shown.stdout
    finally:
        for worker in workers:
            worker.stop()
