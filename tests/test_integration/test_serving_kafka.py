"""Serving against the real broker: an outside client asks over Kafka and HTTP, and traces answer."""
from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from app.registry import Registry
from app.storage import FileStore
from models.data.synthetic import generate
from models.training import train
from tests.conftest import REPO
from tests.kafka_tools import Worker, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

SCHEMAS = REPO / "app" / "schemas"
IDS = json.loads((SCHEMAS / "ids.json").read_text())


def schema(name: str) -> dict:
    return parse_schema(json.loads((SCHEMAS / f"{name}.avsc").read_text()))


def frame_avro(name: str, record: dict) -> bytes:
    """Confluent framing written by hand, as any outside client would."""
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, IDS[name]))
    schemaless_writer(buf, schema(name), record)
    return buf.getvalue()


def unframe_avro(name: str, data: bytes) -> dict:
    assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] == IDS[name]
    return schemaless_reader(io.BytesIO(data[5:]), schema(name))


@pytest.fixture(scope="module")
def registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ALS model trained on small synthetic data, registered as the worker expects."""
    root = tmp_path_factory.mktemp("registry")
    frame, catalog = generate(n_users=300, n_movies=400, n_interactions=15_000, seed=3)
    result = train("als", frame, tune=False, progress=False, refit_all=True)
    card = {**result.model_card(), "git_sha": "test-sha", "data_snapshot_id": "sha256:synthetic-3"}
    titles = dict(zip(catalog["movie_id"].tolist(), catalog["title"].tolist()))
    extras = {"catalog.json": json.dumps(titles).encode(),
              "data_manifest.json": json.dumps({"snapshot_id": "sha256:synthetic-3"}).encode()}
    asyncio.run(Registry(FileStore(root)).register(result.bundle, card, extras))
    return root


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, registry_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A worker serving the registered model, ready (its /health says 200)."""
    tmp, run = tmp_path_factory.mktemp("worker"), uuid.uuid4().hex[:8]
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"sv-{run}-",
           "MOVIE_RECS_APP_ID": f"sv-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
           "MOVIE_RECS_DATA_DIR": str(tmp / "faust"), "MOVIE_RECS_REGISTRY": f"file://{registry_dir}",
           "MOVIE_RECS_SNAPSHOTS": f"file://{tmp / 'snapshots'}", "MOVIE_RECS_SERVE_MODEL": "als"}
    proc = Worker(env, tmp / "worker.log").create_topics().start()
    proc.wait_ready()
    yield proc, env["MOVIE_RECS_TOPIC_PREFIX"]
    proc.stop()


async def ask(bootstrap: str, prefix: str, requests: list[dict], watches: list[dict]) -> dict[str, list[dict]]:
    """Produce watches then requests (murmur2 placement by user key); collect one answer each."""
    consumer = AIOKafkaConsumer(prefix + "reco-responses", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=f"client-{uuid.uuid4().hex[:6]}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    try:
        for watch in watches:
            await producer.send_and_wait(prefix + "watch", frame_avro("WatchEvent", watch), key=str(watch["user_id"]).encode())
        await asyncio.sleep(1.5)  # let the ingest agent apply them before the requests
        for request in requests:
            await producer.send_and_wait(prefix + "reco-requests", frame_avro("RecoRequest", request),
                                         key=str(request["user_id"]).encode())
        answers: dict[str, list[dict]] = {}
        deadline = time.monotonic() + 60
        while sum(map(len, answers.values())) < len(requests) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    answer = unframe_avro("RecoResponse", record.value)
                    assert record.key == answer["request_id"].encode()
                    answers.setdefault(answer["request_id"], []).append(answer)
        return answers
    finally:
        await producer.stop()
        await consumer.stop()


async def wait_trace(proc: Worker, request_id: str) -> dict:
    """The trace of a request; it is written just after the answer, so allow a moment."""
    for _ in range(40):
        status, body = proc.get(f"/trace/{request_id}")
        if status == 200:
            return json.loads(body)
        await asyncio.sleep(0.25)
    raise AssertionError(f"no trace of {request_id}: {status} {body!r}")


def request(user_id: int, k: int = 10, exclude=(), request_id: str | None = None) -> dict:
    return {"request_id": request_id or uuid.uuid4().hex, "ts": int(time.time() * 1000), "user_id": user_id,
            "k": k, "client_id": "outside", "exclude": list(exclude)}


async def test_outside_client_gets_correct_answers_over_kafka(worker, kafka_bootstrap: str) -> None:
    proc, prefix = worker
    now = int(time.time() * 1000)
    known, fresh = request(5, k=10, exclude=[1, 2, 3]), request(900_001, k=7)
    watched = [{"ts": now + i, "user_id": 900_001, "movie_id": m, "minute": 0} for i, m in enumerate((10, 11, 12))]
    nobody, bad_k = request(900_002, k=5), request(6, k=0)
    again = dict(known, ts=now + 5)
    answers = await ask(kafka_bootstrap, prefix, [known, fresh, nobody, bad_k, again], watched)

    (first, second) = answers[known["request_id"]]
    assert first["status"] == 200 and len(first["movie_ids"]) == 10 and first["strategy"] == "model"
    assert not {1, 2, 3} & set(first["movie_ids"])
    assert first["model_name"] == "als" and first["git_sha"] == "test-sha" and first["served_by"]
    assert first["data_snapshot_id"] == "sha256:synthetic-3" and first["model_version"]
    assert second == first, "a repeated request id gets the same answer"

    (personal,) = answers[fresh["request_id"]]
    assert personal["strategy"] == "fold-in" and len(personal["movie_ids"]) == 7
    assert not {10, 11, 12} & set(personal["movie_ids"]), "never a movie the user just watched"
    (cold,) = answers[nobody["request_id"]]
    assert cold["strategy"] == "popular-fallback" and len(cold["movie_ids"]) == 5
    (bad,) = answers[bad_k["request_id"]]
    assert bad["status"] == 400 and "k 0" in bad["error"] and bad["movie_ids"] == []

    trace = await wait_trace(proc, known["request_id"])
    assert trace["response"]["movie_ids"] == first["movie_ids"]
    assert trace["model_card"]["git_sha"] == "test-sha" and trace["data_manifest"]["snapshot_id"] == "sha256:synthetic-3"
    assert trace["request"]["exclude"] == [1, 2, 3]


async def test_http_recommend_trace_and_errors(worker) -> None:
    proc, _ = worker
    status, body = proc.get("/recommend/5?k=4&exclude=7,8")
    answer = json.loads(body)
    assert status == 200 and len(answer["movies"]) == 4 and all(m["title"] for m in answer["movies"])
    assert not {7, 8} & {m["movie_id"] for m in answer["movies"]}
    trace = await wait_trace(proc, answer["provenance"]["request_id"])
    assert trace["response"]["movie_ids"] == [m["movie_id"] for m in answer["movies"]]
    for path, code in (("/recommend/abc", 400), ("/recommend/5?k=101", 400), ("/recommend/5?exclude=x", 400),
                       ("/trace/no-such-request", 404)):
        status, body = proc.get(path)
        assert status == code and json.loads(body)["error"], path
    assert json.loads(proc.get("/openapi.json")[1])["paths"]["/recommend/{user_id}"]
    assert json.loads(proc.get("/rollout/status")[1])["stable"]["model_name"] == "als"


def test_unknown_route_answers_json_error(worker) -> None:
    proc, _ = worker
    status, body = proc.get("/no/such/route")
    assert status == 404 and json.loads(body)["error"] == "not found" and "/no/such/route" in json.loads(body)["detail"]


def test_a_trained_version_reaches_a_worker_serving_newest(worker, registry_dir: Path) -> None:
    """``train`` publishes ``register``; with no production version the worker swaps to it, no restart."""
    proc, prefix = worker
    before = json.loads(proc.get("/rollout/status")[1])["stable"]["model_version"]
    env = {**proc.env, "MOVIE_RECS_TOPIC_PREFIX": prefix}
    done = subprocess.run([sys.executable, "-m", "app.cli", "train", "--model", "als", "--data", "synthetic",
                           "--no-tune", "--no-tune-serving"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    trained = done.stdout.split()[1].rstrip(":")
    assert trained != before
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if json.loads(proc.get("/rollout/status")[1])["stable"]["model_version"] == trained:
            break
        time.sleep(0.5)
    assert json.loads(proc.get("/rollout/status")[1])["stable"]["model_version"] == trained, proc.log_tail()
