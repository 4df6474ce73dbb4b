"""Exposure against the real broker: served answers reach /fairness, the gauges and the report."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from app.registry import Registry
from app.storage import FileStore
from models.data.synthetic import generate
from models.training import train
from tests.conftest import REPO
from tests.kafka_tools import Worker, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
USERS = 30


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("registry")
    frame, _ = generate(n_users=200, n_movies=300, n_interactions=8_000, seed=5)
    result = train("als", frame, tune=False, progress=False, refit_all=True)
    card = {**result.model_card(), "git_sha": "sha", "data_snapshot_id": "sha256:s5"}
    asyncio.run(Registry(FileStore(root)).register(result.bundle, card, {}))
    return root, result.bundle


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, registered, tmp_path_factory: pytest.TempPathFactory):
    root, _ = registered
    tmp, run = tmp_path_factory.mktemp("worker"), uuid.uuid4().hex[:8]
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"fx-{run}-",
           "MOVIE_RECS_APP_ID": f"fx-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
           "MOVIE_RECS_DATA_DIR": str(tmp / "faust"), "MOVIE_RECS_REGISTRY": f"file://{root}",
           "MOVIE_RECS_SNAPSHOT_ENABLED": "false", "MOVIE_RECS_SERVE_MODEL": "als",
           "MOVIE_RECS_FAIRNESS_GAUGE_INTERVAL_S": "0.5"}
    proc = Worker(env, tmp / "worker.log").create_topics().start()
    proc.wait_ready()
    yield proc
    proc.stop()


def poll(worker: Worker, path: str, done, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = worker.get(path)
        if status == 200 and done(body):
            return body
        assert time.monotonic() < deadline, f"{path}: {status} {body[:300]!r}\n{worker.log_tail()}"
        time.sleep(0.5)


def test_served_answers_are_counted_live_and_reported(worker: Worker, registered, tmp_path: Path) -> None:
    _, bundle = registered
    lists = []
    for user in bundle.maps.users.raw[:USERS]:
        status, body = worker.get(f"/recommend/{int(user)}?k=10")
        assert status == 200, body
        lists.append([m["movie_id"] for m in json.loads(body)["movies"]])
    body = json.loads(poll(worker, "/fairness?arm=stable&window=current",
                           lambda b: json.loads(b)["n_responses"] >= USERS))
    shown = len({m for movies in lists for m in movies})
    n_items = len(bundle.maps.items)
    assert body["n_responses"] == USERS and body["exposures"] == 10 * USERS
    assert body["catalog_size"] == n_items and body["coverage"] == pytest.approx(shown / n_items)
    assert body["starvation"] == pytest.approx(1 - shown / n_items)
    assert 0 < body["gini"] < 1 and set(body["amplification"]) == {"head", "tail"}

    assert worker.get("/fairness?window=yesterday")[0] == 400
    status, unknown = worker.get("/fairness?arm=nobody")
    assert status == 400 and json.loads(unknown)["error"] == "unknown arm"
    previous = json.loads(worker.get("/fairness?arm=stable&window=previous")[1])
    assert (previous["n_responses"], previous["gini"], previous["coverage"]) == (0, 0.0, 0.0)

    metrics = poll(worker, "/metrics", lambda b: f'movierecs_fairness_responses{{arm="stable"}} {USERS}.0'.encode() in b)
    assert b'movierecs_fairness_amplification{arm="stable",tier="head"}' in metrics

    out = tmp_path / "report"
    run = subprocess.run([sys.executable, "-m", "app.cli", "report", "fairness", "--out", str(out)],
                         cwd=REPO, env=worker.env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((out / "fairness_report.json").read_text())
    assert report["n_responses"] == USERS
    assert report["summary"]["coverage"] == pytest.approx(body["coverage"])
    assert report["summary"]["gini"] == pytest.approx(body["gini"])
    counts = np.bincount([bundle.maps.items.index(m) for movies in lists for m in movies], minlength=n_items)
    assert report["summary"]["exposures"] == int(counts.sum())
    assert all((out / name).stat().st_size > 0 for name in ("fairness_lorenz.png", "fairness_tiers.png",
                                                            "fairness_starvation.png", "fairness_report.md"))
