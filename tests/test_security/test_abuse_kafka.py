"""Abuse against a real worker on the real broker: limits, API keys, and garbage among valid traffic.

One worker for the module, with API keys on and small limits. Garbage of every kind goes to
every input topic interleaved with valid events; each garbage message must come back as a
dead letter with a reason or a 4xx response, every valid one must be applied or answered
(counted through the broker and the worker's own counters), and the worker must stay up.
"""
from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import random
import re
import struct
import time
import uuid
from collections import Counter
from urllib.parse import quote
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from tests.kafka_tools import Worker, free_port, read_all
from tests.test_integration.test_serving_kafka import registry_dir  # noqa: F401 - module-scoped fixture

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

KEY, LIMITED_KEY = "fuzz-key", "limit-key"
MAX_PAYLOAD = 4096
CODECS = {"watch": AvroCodec("WatchEvent"), "rate": AvroCodec("RateEvent"),
          "reco-requests": AvroCodec("RecoRequest")}
RESPONSE, DEAD = AvroCodec("RecoResponse"), AvroCodec("DeadLetter")


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, registry_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """A worker with API keys on, 5 HTTP requests/s (127.0.0.1 exempt), 1 request/s per client_id
    (burst 3) and 5 ratings per user per hour."""
    tmp, run = tmp_path_factory.mktemp("abuse"), uuid.uuid4().hex[:8]
    digests = ",".join(hashlib.sha256(k.encode()).hexdigest() for k in (KEY, LIMITED_KEY))
    env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": kafka_bootstrap, "MOVIE_RECS_TOPIC_PREFIX": f"ab-{run}-",
           "MOVIE_RECS_APP_ID": f"ab-{run}", "MOVIE_RECS_WEB_PORT": str(free_port()),
           "MOVIE_RECS_DATA_DIR": str(tmp / "faust"), "MOVIE_RECS_REGISTRY": f"file://{registry_dir}",
           "MOVIE_RECS_SNAPSHOT_ENABLED": "false", "MOVIE_RECS_SERVE_MODEL": "als",
           "MOVIE_RECS_API_KEY_SHA256": digests, "MOVIE_RECS_HTTP_RATE_PER_S": "5", "MOVIE_RECS_HTTP_BURST": "5",
           "MOVIE_RECS_RATE_LIMIT_EXEMPT": "127.0.0.1", "MOVIE_RECS_KAFKA_CLIENT_RATE_PER_S": "1",
           "MOVIE_RECS_KAFKA_CLIENT_BURST": "3", "MOVIE_RECS_RATINGS_PER_USER_HOUR": "5",
           "MOVIE_RECS_MAX_PAYLOAD_BYTES": str(MAX_PAYLOAD)}
    proc = Worker(env, tmp / "worker.log").create_topics().start()
    proc.wait_ready()
    yield proc, env["MOVIE_RECS_TOPIC_PREFIX"]
    proc.stop()


def call(proc: Worker, path: str, headers: dict[str, str] | None = None, method: str = "GET",
         body: bytes | None = None, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """One HTTP request from ``source`` (any 127.0.0.0/8 address reaches the loopback worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        conn.close()


def metric(proc: Worker, name: str, **labels: str) -> float:
    """A counter's value from the worker's /metrics (0 when the series does not exist yet)."""
    text = proc.get("/metrics")[1].decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def produce(bootstrap: str, messages: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2_000_000)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def until(check, timeout_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


async def responses(bootstrap: str, prefix: str, wanted: set[str], timeout_s: float = 60.0) -> dict[str, dict]:
    """Every response on reco-responses for the ``wanted`` request ids (read from the broker)."""
    found: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while not wanted <= set(found) and time.monotonic() < deadline:
        for record in await read_all(bootstrap, prefix + "reco-responses"):
            answer = RESPONSE.decode(record.value)
            if answer["request_id"] in wanted:
                found[answer["request_id"]] = answer
        await asyncio.sleep(0.5)
    return found


def test_public_routes_need_a_key_health_and_metrics_stay_open(worker) -> None:
    proc, _ = worker
    assert call(proc, "/recommend/5")[0] == 401
    status, headers, body = call(proc, "/users/5", {"X-API-Key": "stolen?"})
    assert status == 403 and json.loads(body)["error"] == "forbidden"
    for path in ("/recommend/5", "/users/5", "/rollout/status", "/trace/none"):
        assert call(proc, path)[0] == 401, path
    assert call(proc, "/recommend/5", {"X-API-Key": KEY})[0] == 200
    assert call(proc, "/health")[0] == 200 and call(proc, "/metrics")[0] == 200
    document = json.loads(proc.get("/openapi.json")[1])
    for path, item in document["paths"].items():  # the document and the code agree on who needs a key
        concrete = re.sub(r"\{[^}]+\}", "5", path)
        if "get" not in item:  # mutating routes take the admin token, not an API key
            continue
        needs_key = {"ApiKey": []} in item["get"].get("security", [])
        assert (call(proc, concrete)[0] == 401) == needs_key, path
    assert metric(proc, "movierecs_auth_denied_total", status="401") >= 5


def test_http_limit_answers_429_with_retry_after_per_key(worker) -> None:
    proc, _ = worker
    statuses, retry = [], None
    for _ in range(15):
        status, headers, body = call(proc, "/rollout/status", {"X-API-Key": LIMITED_KEY}, source="127.0.0.2")
        statuses.append(status)
        if status == 429:
            retry = headers["Retry-After"]
            assert json.loads(body)["error"] == "rate limited"
    assert statuses[:5] == [200] * 5 and statuses.count(429) >= 5, statuses
    assert retry is not None and int(retry) >= 1
    assert call(proc, "/rollout/status", {"X-API-Key": KEY}, source="127.0.0.2")[0] == 200, "other keys unaffected"
    assert metric(proc, "movierecs_rate_limited_total", channel="http") >= 5


async def test_client_id_limit_and_ratings_cap_over_kafka(worker, kafka_bootstrap: str) -> None:
    proc, prefix = worker
    now = int(time.time() * 1000)
    greedy = [{"request_id": uuid.uuid4().hex, "ts": now, "user_id": 5, "k": 3, "client_id": "greedy",
               "exclude": []} for _ in range(8)]
    spammer = 777_001
    ratings = [{"ts": now + i, "user_id": spammer, "movie_id": 10 + i, "rating": 5} for i in range(8)]
    started = time.monotonic()
    await produce(kafka_bootstrap, [(prefix + "reco-requests", b"5", CODECS["reco-requests"].encode(r)) for r in greedy]
                  + [(prefix + "rate", str(spammer).encode(), CODECS["rate"].encode(r)) for r in ratings])
    answers = await responses(kafka_bootstrap, prefix, {r["request_id"] for r in greedy})
    elapsed = time.monotonic() - started
    statuses = [answers[r["request_id"]]["status"] for r in greedy]
    assert statuses[:3] == [200] * 3 and set(statuses) == {200, 429}
    assert statuses.count(200) <= 3 + elapsed + 1, "burst 3, then 1 a second"
    assert all("over its rate limit" in answers[r["request_id"]]["error"]
               for r in greedy if answers[r["request_id"]]["status"] == 429)

    def user_ratings() -> int:
        return json.loads(call(proc, f"/users/{spammer}", {"X-API-Key": KEY})[2]).get("rate_events", 0)
    await until(lambda: user_ratings() == 5, what="5 ratings applied")
    letters = [DEAD.decode(r.value) for r in await read_all(kafka_bootstrap, prefix + "dead-letters")]
    capped = [letter for letter in letters if "ratings per hour" in letter["error"]]
    assert sorted(CODECS["rate"].decode(letter["payload"])["movie_id"] for letter in capped) == [15, 16, 17]
    assert metric(proc, "movierecs_rate_limited_total", channel="ratings") == 3


def garbage_for(codec: AvroCodec, valid: bytes, rng: random.Random) -> list[tuple[str, bytes | None]]:
    """(kind, value) of every garbage kind for one Avro topic."""
    return [("random", rng.randbytes(40)), ("empty", b""), ("tombstone", None),
            ("magic", b"\x01" + valid[1:]), ("schema id", valid[:1] + struct.pack(">I", 999_999) + valid[5:]),
            ("truncated", valid[:-2]), ("trailing", valid + b"\x00\x01"),
            ("oversize", b"\x00" + rng.randbytes(MAX_PAYLOAD + 100)),
            ("huge array", valid[:5] + b"\x02r\x02\x02\x02\x02\x02c" + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f" + b"\x02" * 8)]


async def test_garbage_interleaved_with_valid_traffic_is_all_accounted_for(worker, kafka_bootstrap: str) -> None:
    proc, prefix = worker
    rng, now = random.Random(11), int(time.time() * 1000)
    before = {t: metric(proc, "movierecs_events_ingested_total", topic=t) for t in ("watch", "rate")}
    watches = [{"ts": now + i, "user_id": 30_000 + i, "movie_id": 1 + i, "minute": i % 60} for i in range(40)]
    rates = [{"ts": now + i, "user_id": 40_000 + i, "movie_id": 1 + i, "rating": 1 + i % 5} for i in range(30)]
    requests = [{"request_id": uuid.uuid4().hex, "ts": now, "user_id": 1 + i, "k": 5, "client_id": f"c{i}",
                 "exclude": [1, 2]} for i in range(20)]
    bad_requests = [dict(requests[0], request_id=uuid.uuid4().hex, client_id=f"bad{i}", **change) for i, change in enumerate((
        {"user_id": -4}, {"user_id": 0}, {"k": 0}, {"k": 101}, {"k": -(2**31)}, {"exclude": list(range(1001))}))]
    lines = [f"2026-01-01T10:00:{i:02d},{50_000 + i},GET /data/m/{7 + i}/3.mpg" for i in range(5)]
    lines += [f"2026-01-01T10:01:{i:02d},{60_000 + i},GET /rate/{7 + i}=4" for i in range(5)]
    bad_lines = [b"garbage", b"\xff\xfe not utf-8", b"2026-01-01T10:00:00,abc,GET /rate/1=5",
                 ("2026-01-01T10:00:00," + "9" * 5000 + ",GET /rate/1=5").encode(),
                 b"2026-01-01T10:00:00,12,GET /rate/1=9", "2026-01-01T10:00:00,١٢,GET /rate/٣=٥".encode(),
                 b"not-a-time,12,GET /rate/1=5", b"2026-01-01T10:00:00,12,GET /rate/99999999999=5"]

    valid: list[tuple[str, bytes | None, bytes | None]] = []
    for name, records in (("watch", watches), ("rate", rates), ("reco-requests", requests + bad_requests)):
        valid += [(prefix + name, str(r["user_id"]).encode(), CODECS[name].encode(r)) for r in records]
    valid += [(prefix + "movielog", None, line.encode()) for line in lines]
    garbage: list[tuple[str, bytes | None, bytes | None]] = []
    for name in ("watch", "rate", "reco-requests"):
        garbage += [(prefix + name, rng.choice([b"1", None, "é".encode() * 300]), value)
                    for _, value in garbage_for(CODECS[name], valid[[t for t, _, _ in valid].index(prefix + name)][2], rng)]
    garbage += [(prefix + "movielog", None, line) for line in bad_lines]
    semantic = [(prefix + "watch", b"1", CODECS["watch"].encode(dict(watches[0], movie_id=-1))),
                (prefix + "rate", b"1", CODECS["rate"].encode(dict(rates[0], rating=9))),
                (prefix + "rate", b"1", CODECS["rate"].encode(dict(rates[0], user_id=-(2**31)))),
                (prefix + "watch", b"1", CODECS["watch"].encode(dict(watches[0], ts=2**62)))]
    garbage += semantic
    mixed = valid + garbage
    rng.shuffle(mixed)
    await produce(kafka_bootstrap, mixed)

    answers = await responses(kafka_bootstrap, prefix, {r["request_id"] for r in requests + bad_requests})
    wrong = [(answers.get(r["request_id"]) or {}).get("error", "no answer") for r in requests
             if (answers.get(r["request_id"]) or {}).get("status") != 200
             or len(answers[r["request_id"]]["movie_ids"]) != 5]
    assert not wrong, f"every valid request answered: {wrong}"
    assert [answers[r["request_id"]]["status"] for r in bad_requests] == [400] * len(bad_requests)
    assert all(answers[r["request_id"]]["error"] for r in bad_requests), "every bad request told why"

    expected = Counter(topic.removeprefix(prefix) for topic, _, _ in garbage)
    letters: list[dict] = []

    async def collect() -> Counter:
        letters[:] = [DEAD.decode(r.value) for r in await read_all(kafka_bootstrap, prefix + "dead-letters")]
        return Counter(letter["source_topic"].removeprefix(prefix) for letter in letters
                       if "ratings per hour" not in letter["error"])
    deadline = time.monotonic() + 60
    while (got := await collect()) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert got == expected, (got, expected)
    assert all(letter["error"] for letter in letters)
    reasons = " | ".join(letter["error"] for letter in letters)
    for phrase in ("magic byte", "unknown schema id", "trailing bytes", "truncated", "exceeds", "empty message",
                   "movie_id -1", "rating 9", "in the future", "movielog: not UTF-8", "movielog: not '<time>"):
        assert phrase in reasons, phrase

    await until(lambda: metric(proc, "movierecs_events_ingested_total", topic="watch") - before["watch"] == 45
                and metric(proc, "movierecs_events_ingested_total", topic="rate") - before["rate"] == 35,
                what="every valid watch and rate applied (movielog ones included)")
    assert proc.proc.poll() is None and proc.get("/health")[0] == 200


def test_hostile_http_requests_get_4xx_and_the_worker_stays_up(worker) -> None:
    proc, _ = worker
    key = {"X-API-Key": KEY}
    cases = [("/recommend/" + "9" * 5000, 400), ("/recommend/%C2%B2", 400), ("/recommend/-5", 400),
             ("/recommend/4294967296", 400), ("/recommend/5?k=0", 400), ("/recommend/5?k=" + "9" * 3000, 400),
             ("/recommend/5?exclude=" + ",".join(["1"] * 2000) + ",x", 400), ("/users/%F0%9F%8E%AC", 400),
             ("/trace/" + quote("é" * 1000), 404), ("/trace/%00", 404)]
    for path, expected in cases:
        status, _, body = call(proc, path, key)
        assert status == expected, (path[:40], status, body[:200])
        assert json.loads(body)["error"]
    status, _, _ = call(proc, "/recommend/5", key, method="POST", body=b"x" * 3_000_000)
    assert 400 <= status < 500
    status, _, _ = call(proc, "/trace/" + "a" * 20_000, key)
    assert 400 <= status < 500, "an over-long request line is refused by the server"
    assert proc.proc.poll() is None and proc.get("/health")[0] == 200



def test_served_openapi_document_holds_under_generated_requests(worker) -> None:
    """Schemathesis on every operation the worker serves: no 5xx, only documented statuses,
    bodies and headers as documented, valid input accepted, invalid input refused; worker up."""
    proc, _ = worker
    base_url = f"http://127.0.0.1:{proc.port}"
    operations = [result.ok() for result in schemathesis.openapi.from_url(f"{base_url}/openapi.json").get_all_operations()]
    assert {op.path for op in operations} >= {"/recommend/{user_id}", "/trace/{request_id}", "/users/{user_id}"}
    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=25, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def holds(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base_url, headers={"X-API-Key": KEY})
        holds()
    assert proc.proc.poll() is None and proc.get("/health")[0] == 200
