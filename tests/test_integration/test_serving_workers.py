"""Two workers in one group: any worker answers for any user and traces any request, also
after the worker that answered has left the group."""
from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.kafka_tools import Worker, free_port
from tests.test_integration.test_serving_kafka import registry_dir  # noqa: F401 - module fixture

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
USERS = range(1, 41)


def recommend_all(proc: Worker, rebuild_s: float = 60.0) -> dict[int, dict]:
    """Every user's HTTP answer, asked of ``proc``; a user whose partition its new owner is
    still rebuilding answers 503 ``recovering`` by design, and is asked again."""
    answers = {}
    deadline = time.monotonic() + rebuild_s
    for user in USERS:
        status, body = proc.get(f"/recommend/{user}?k=5")
        while status == 503 and json.loads(body)["error"] == "recovering" and time.monotonic() < deadline:
            time.sleep(0.5)
            status, body = proc.get(f"/recommend/{user}?k=5")
        assert status == 200, body
        answers[user] = json.loads(body)
    return answers


def trace(proc: Worker, request_id: str) -> dict:
    status, body = proc.get(f"/trace/{request_id}")
    assert status == 200, (status, body)
    return json.loads(body)


def test_any_worker_answers_and_traces(kafka_bootstrap: str, registry_dir: Path,  # noqa: F811
                                       tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    common = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"mw-{run}-",
              "MOVIE_RECS_APP_ID": f"mw-{run}", "MOVIE_RECS_REGISTRY": f"file://{registry_dir}",
              "MOVIE_RECS_SERVE_MODEL": "als"}
    workers = []
    for name in ("a", "b"):
        env = {**common, "MOVIE_RECS_WEB_PORT": str(free_port()), "MOVIE_RECS_DATA_DIR": str(tmp_path / name),
               "MOVIE_RECS_SNAPSHOTS": f"file://{tmp_path / name / 'snapshots'}"}
        workers.append(Worker(env, tmp_path / f"{name}.log"))
    a, b = workers
    try:
        a.create_topics().start().wait_ready()
        b.start().wait_ready()
        deadline = time.monotonic() + 60  # until the group has settled on both workers
        while True:
            answers = recommend_all(a)
            served_by = {answer["provenance"]["served_by"] for answer in answers.values()}
            if len(served_by) == 2 or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        host = socket.gethostname()  # a worker's id is host:port
        assert served_by == {f"{host}:{a.port}", f"{host}:{b.port}"}
        by_a, by_b = ([answer for answer in answers.values() if answer["provenance"]["served_by"] == f"{host}:{proc.port}"]
                      for proc in (a, b))
        for asked, answer in ((a, by_b[0]), (b, by_a[0])):  # the trace lives with the other worker
            found = trace(asked, answer["provenance"]["request_id"])
            assert found["response"]["movie_ids"] == [m["movie_id"] for m in answer["movies"]]
        b.stop()
        time.sleep(1.0)
        a.wait_ready()
        deadline = time.monotonic() + 60  # b's partitions, traces included, recover on a
        while a.get(f"/trace/{by_b[0]['provenance']['request_id']}")[0] != 200 and time.monotonic() < deadline:
            time.sleep(1.0)
        recovered = trace(a, by_b[0]["provenance"]["request_id"])
        assert recovered["request"]["user_id"] == by_b[0]["user_id"]
        assert {answer["provenance"]["served_by"] for answer in recommend_all(a).values()} == {f"{host}:{a.port}"}
    finally:
        for proc in workers:
            proc.stop()

