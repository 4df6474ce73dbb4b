"""Rollouts against the real broker with two workers that share this module.

Promotion while requests flow, sticky and split arms, conversions in the stream deciding an
A/B test (and not an A/A one), broken canaries rolled back by the leader alone, bad input
refused with nothing published, and a restarted worker serving the same arms.
"""
from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from app.codec import AvroCodec
from app.registry import Registry
from app.retrain import RESULT_PREFIX
from app.rollout.arms import bucket
from app.snapshots import SnapshotSink
from app.storage import FileStore
from models.data.synthetic import generate
from models.training import train
from tests.kafka_tools import REPO, Worker, free_port, read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]
TOKEN = "rollout-test-token"
MODEL_EVENT, WATCH = AvroCodec("ModelEvent"), AvroCodec("WatchEvent")
FOLD_IN_USERS = range(5_001, 5_081)
"""Users the models do not know, with a live history: answered by fold-in (the slow model's slow path)."""
SLOW_FACTORS = 1_000
"""Factors of the slow model: a fold-in solves a 1000 x 1000 system, ~40-60 ms of CPU (1-3 ms at 300)."""


def trained_als(seed: int):
    frame, catalog = generate(n_users=300, n_movies=400, n_interactions=15_000, seed=3)
    result = train("als", frame, tune=False, progress=False, refit_all=True, params={"seed": seed})
    return result, dict(zip(catalog["movie_id"].tolist(), catalog["title"].tolist()))


def raising(result) -> None:
    """Factors that no longer fit: known users' scoring and fold-in raise (numpy, no crash)."""
    model = result.bundle.model
    model._als.user_factors = np.ascontiguousarray(model._als.user_factors[:, :-1])
    model.item_length_norm = model.item_length_norm[:1]


def slow(result) -> None:
    """Wide factors: every fold-in solves a SLOW_FACTORS-square system (tens of ms instead of one)."""
    model = result.bundle.model
    rng = np.random.default_rng(0)
    model.params = model.Params(**{**model.params.model_dump(), "factors": SLOW_FACTORS})
    model._als.factors = SLOW_FACTORS
    model._als.user_factors = rng.random((model.n_users, SLOW_FACTORS), dtype=np.float32)
    model._als.item_factors = rng.random((model.n_items, SLOW_FACTORS), dtype=np.float32)


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """v1 (production), v2 (another seed), broken (raises), slow: all ALS."""
    root = tmp_path_factory.mktemp("registry")
    registry = Registry(FileStore(root))
    found = {"root": root}
    for label, seed, spoil in (("v1", 0, None), ("v2", 1, None), ("broken", 2, raising), ("slow", 3, slow)):
        result, titles = trained_als(seed)
        if spoil:
            spoil(result)
        card = {**result.model_card(), "git_sha": f"sha-{label}", "data_snapshot_id": "sha256:synthetic-3",
                "created_at": 1.7e9 + len(found)}
        extras = {"catalog.json": json.dumps(titles).encode()}
        found[label] = asyncio.run(registry.register(result.bundle, card, extras))
    asyncio.run(registry.promote("als", found["v1"], max_regression=1.0, force_reason="test start"))
    return found


class Cluster:
    """Two workers of one group on their own topics, and the clients a test needs."""

    def __init__(self, bootstrap: str, registry_root: Path, tmp: Path) -> None:
        run = uuid.uuid4().hex[:8]
        self.bootstrap, self.prefix = bootstrap, f"ro-{run}-"
        self.common = {
            "MOVIE_RECS_KAFKA_BOOTSTRAP": bootstrap, "MOVIE_RECS_TOPIC_PREFIX": self.prefix,
            "MOVIE_RECS_APP_ID": f"ro-{run}", "MOVIE_RECS_REGISTRY": f"file://{registry_root}",
            "MOVIE_RECS_SERVE_MODEL": "als", "MOVIE_RECS_ADMIN_TOKEN": TOKEN,
            "MOVIE_RECS_SNAPSHOT_ENABLED": "false", "MOVIE_RECS_RETRAIN_CRONTAB": "",
            "MOVIE_RECS_CANARY_MIN_REQUESTS": "20", "MOVIE_RECS_CANARY_MAX_ERROR_RATE": "0.05",
            "MOVIE_RECS_CANARY_MAX_P95_MS": "10", "MOVIE_RECS_CANARY_GUARD_INTERVAL_S": "1",
            "MOVIE_RECS_ROLLOUT_STATS_INTERVAL_S": "0.5", "MOVIE_RECS_MODEL_RETRY_S": "2"}
        self.workers = [Worker({**self.common, "MOVIE_RECS_WEB_PORT": str(free_port()),
                                "MOVIE_RECS_DATA_DIR": str(tmp / name)}, tmp / f"{name}.log") for name in "ab"]

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env={**self.workers[0].env, **env},
                              capture_output=True, text=True, timeout=300)

    def events(self) -> list[dict]:
        return [MODEL_EVENT.decode(r.value) for r in asyncio.run(read_all(self.bootstrap, self.prefix + "model-events"))]

    def send_watches(self, watches: list[tuple[int, int, int]]) -> None:
        """(user, movie, ts) watch events, keyed by user (murmur2, as the contract says)."""
        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
            await producer.start()
            try:
                for user, movie, ts in watches:
                    value = WATCH.encode({"ts": ts, "user_id": user, "movie_id": movie, "minute": 0})
                    await producer.send(self.prefix + "watch", value, key=str(user).encode())
                await producer.flush()
            finally:
                await producer.stop()
        asyncio.run(send())


def call(worker: Worker, method: str, path: str, body: Any = None, token: str | None = TOKEN,
         raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def status(worker: Worker) -> dict:
    code, body = call(worker, "GET", "/rollout/status")
    assert code == 200, body
    return body


def recommend(worker: Worker, user: int) -> dict:
    code, body = call(worker, "GET", f"/recommend/{user}?k=5")
    assert code == 200, (user, body)
    return body


def rollout(worker: Worker, body: dict) -> dict:
    code, reply = call(worker, "POST", "/rollout", body)
    assert code == 202, reply
    return reply["published"]


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout_s}s: {what}")


def all_serve(cluster: Cluster, check: Callable[[dict], bool], what: str, timeout_s: float = 60) -> None:
    """Wait until every worker's /rollout/status passes ``check`` and serves that state (its versions loaded)."""
    wait_until(lambda: all(check(shown) and shown["applied"] for shown in map(status, cluster.workers)),
               timeout_s, what)


@pytest.fixture(scope="module")
def cluster(kafka_bootstrap: str, versions: dict, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("rollout")
    cluster = Cluster(kafka_bootstrap, versions["root"], tmp)
    a, b = cluster.workers
    try:
        a.create_topics().start().wait_ready()
        b.start().wait_ready()
        now = int(time.time() * 1000)
        cluster.send_watches([(user, 1 + (user * 7 + i) % 400, now - 60_000 + i)
                              for user in FOLD_IN_USERS for i in range(3)])
        wait_until(lambda: {recommend(a, u)["provenance"]["served_by"] for u in range(1, 41)} ==
                   {recommend(b, u)["provenance"]["served_by"] for u in range(1, 41)} and
                   len({recommend(a, u)["provenance"]["served_by"] for u in range(1, 41)}) == 2,
                   90, "the group settled on both workers")
        wait_until(lambda: all(recommend(a, u)["provenance"]["strategy"] == "fold-in" for u in FOLD_IN_USERS),
                   60, "the fold-in users' watches are ingested")
        yield cluster
    finally:
        for worker in cluster.workers:
            worker.stop()


def test_bad_input_is_refused_and_nothing_is_published(cluster: Cluster, versions: dict) -> None:
    a, b = cluster.workers
    before, shown = len(cluster.events()), status(b)
    for args, words in ((("rollout", "canary", "als", versions["v2"], "--percent", "101"), "percent"),
                        (("rollout", "canary", "als", "no-such-version", "--percent", "5"), "no version"),
                        (("rollout", "canary", "nosuch", versions["v2"], "--percent", "5"), "nosuch"),
                        (("rollout", "ab-start", "e", "--arm", "a=als", "--arm", "b=als:x"), "ARM=NAME:VERSION")):
        done = cluster.cli(*args)
        assert done.returncode != 0 and words in done.stderr, (args, done.stderr)
    for body, code in (({"action": "canary", "model_name": "als", "model_version": versions["v2"], "percent": -3}, 400),
                       ({"action": "canary", "model_name": "als", "model_version": "nope", "percent": 3}, 404),
                       ({"action": "ab_start", "experiment": "e", "arms": "a"}, 400),
                       ({"action": "fly"}, 400)):
        assert call(a, "POST", "/rollout", body)[0] == code, body
    assert call(a, "POST", "/rollout", raw=b"{not json")[0] == 400
    assert call(a, "POST", "/rollout", {"action": "rollback", "model_name": "als"}, token=None)[0] == 401
    assert call(a, "POST", "/rollout", {"action": "rollback", "model_name": "als"}, token="wrong")[0] == 403
    arms = [{"name": "a", "model_name": "als", "model_version": versions["v1"]},
            {"name": "b", "model_name": "als", "model_version": versions["v2"]}]
    rollout(a, {"action": "ab_start", "experiment": "first", "arms": arms})
    all_serve(cluster, lambda s: s["experiment"] and s["experiment"]["experiment"] == "first", "the experiment")
    for experiment in ("first", "second"):  # the same again, and a second experiment on the same model
        code, reply = call(b, "POST", "/rollout", {"action": "ab_start", "experiment": experiment, "arms": arms})
        assert code == 409 and "experiment" in reply["detail"]
    done = cluster.cli("rollout", "ab-start", "second", "--arm", f"a=als:{versions['v1']}", "--arm",
                       f"b=als:{versions['v2']}")
    assert done.returncode != 0 and "one experiment per model" in done.stderr
    assert len(cluster.events()) == before + 1, "only the valid request was published"
    rollout(b, {"action": "ab_stop", "experiment": "first"})
    all_serve(cluster, lambda s: s["experiment"] is None, "the experiment stopped")
    after = status(a)
    assert after["stable"]["model_version"] == shown["stable"]["model_version"] and after["canary"] is None


def test_promotion_reaches_both_workers_while_requests_flow_without_a_failure(cluster: Cluster,
                                                                              versions: dict) -> None:
    failures, served, stop = [], [], threading.Event()

    def load(worker: Worker) -> None:
        while not stop.is_set():
            user = random.randint(1, 400)
            code, body = call(worker, "GET", f"/recommend/{user}?k=5")
            if code != 200:
                failures.append((code, body))
            else:
                served.append((worker.port, time.monotonic(), body["provenance"]["model_version"]))

    threads = [threading.Thread(target=load, args=(w,), daemon=True) for w in cluster.workers for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2.0)
        promoted = time.monotonic()
        done = cluster.cli("rollout", "promote", "als", versions["v2"], "--force", "integration test")
        assert done.returncode == 0, done.stderr
        wait_until(lambda: all(any(port == w.port and at > promoted and version == versions["v2"]
                                   for port, at, version in served[-200:]) for w in cluster.workers),
                   30, "both workers serve the promoted version")
        reached = time.monotonic() - promoted
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert failures == [] and len(served) > 100
    after = [version for _, at, version in served if at > promoted + reached + 0.5]
    assert after and set(after) == {versions["v2"]}, "nothing serves the old version once both swapped"
    assert all(s["stable"]["model_version"] == versions["v2"] for s in map(status, cluster.workers))


def test_arms_are_sticky_across_workers_and_split_as_configured(cluster: Cluster, versions: dict) -> None:
    a, b = cluster.workers
    done = cluster.cli("rollout", "ab-start", "split", "--arm", f"a=als:{versions['v2']}",
                       "--arm", f"b=als:{versions['v1']}@popularity_penalty:beta=0.5", "--split", "30")
    assert done.returncode == 0, done.stderr
    all_serve(cluster, lambda s: s["experiment"] and s["experiment"]["experiment"] == "split", "the experiment")
    users = range(10_001, 10_601)
    first = {user: recommend(a if user % 2 else b, user)["provenance"] for user in users}
    again = {user: recommend(b if user % 2 else a, user)["provenance"] for user in users}
    assert {u: p["arm"] for u, p in first.items()} == {u: p["arm"] for u, p in again.items()}, "sticky"
    expected = {user: "a" if bucket(user, "split") < 3000 else "b" for user in users}
    assert {u: p["arm"] for u, p in first.items()} == expected, "the hash every worker computes"
    share = sum(1 for p in first.values() if p["arm"] == "a") / len(users)
    assert abs(share - 0.30) < 0.06
    assert {p["model_version"] for p in first.values() if p["arm"] == "b"} == {versions["v1"]}
    shown = status(b)
    assert shown["ab_arms"][1]["reranker"] == "popularity_penalty:beta=0.5"
    wait_until(lambda: sum(arm["requests"] for arm in status(a)["arms"]) >= 2 * len(users), 30,
               "every worker's figures on every worker")
    assert cluster.cli("rollout", "ab-stop", "split").returncode == 0
    all_serve(cluster, lambda s: s["experiment"] is None, "the experiment stopped")


def simulate(cluster: Cluster, experiment: str, users: range, rates: dict[str, float], seed: int) -> dict:
    """Serve each user once, then let users of each arm convert at its rate; the final status."""
    a, b = cluster.workers
    stable = status(a)["stable"]["model_version"]
    rollout(a, {"action": "ab_start", "experiment": experiment, "arms": [
        {"name": "a", "model_name": "als", "model_version": stable},
        {"name": "b", "model_name": "als", "model_version": stable}]})
    all_serve(cluster, lambda s: s["experiment"] and s["experiment"]["experiment"] == experiment, experiment)
    rng, watches = random.Random(seed), []
    for user in users:
        answer = recommend(a if user % 2 else b, user)
        if rng.random() < rates[answer["provenance"]["arm"]]:
            movie = answer["movies"][rng.randrange(len(answer["movies"]))]["movie_id"]
            watches.append((user, movie, answer["provenance"]["ts"] + 1_000))
    cluster.send_watches(watches)
    wait_until(lambda: sum(arm["conversions"] for arm in status(b)["arms"]) == len(watches), 60,
               f"all {len(watches)} conversions counted")
    shown = status(a)
    rollout(b, {"action": "ab_stop", "experiment": experiment})
    all_serve(cluster, lambda s: s["experiment"] is None, "the experiment stopped")
    return shown


def test_conversions_in_the_stream_ship_the_better_arm_and_not_an_equal_one(cluster: Cluster) -> None:
    shipped = simulate(cluster, "better-b", range(20_001, 20_601), {"a": 0.15, "b": 0.35}, seed=1)
    assert (shipped["decision"], shipped["winner"]) == ("ship", "b"), shipped["arms"]
    arm_b = shipped["arms"][1]
    assert arm_b["comparison"]["interval"][0] > 0 and arm_b["conversion_rate"] > shipped["arms"][0]["conversion_rate"]
    assert sum(arm_b["conversions_by_position"].values()) == arm_b["conversions"]
    even = simulate(cluster, "a-a", range(30_001, 30_601), {"a": 0.25, "b": 0.25}, seed=2)
    assert even["decision"] == "inconclusive", even["arms"]
    published = [json.loads(r.value) for r in asyncio.run(read_all(cluster.bootstrap, cluster.prefix + "conversions"))]
    assert len(published) == shipped["arms"][0]["conversions"] + arm_b["conversions"] + sum(
        arm["conversions"] for arm in even["arms"])
    assert set(published[0]) == {"request_id", "arm", "movie_id", "position", "served_ts", "ts"}
    assert all(p["ts"] > p["served_ts"] and 1 <= p["position"] <= 5 for p in published)


@pytest.mark.parametrize("label, users, words", [("broken", range(1, 301), "error rate"),
                                                 ("slow", FOLD_IN_USERS, "p95 latency")])
def test_a_broken_canary_is_rolled_back_by_the_leader_alone(cluster: Cluster, versions: dict, label: str,
                                                            users: range, words: str) -> None:
    a, b = cluster.workers
    version = versions[label]
    done = cluster.cli("rollout", "canary", "als", version, "--percent", "50")
    assert done.returncode == 0, done.stderr
    all_serve(cluster, lambda s: s["canary"] and s["canary"]["model_version"] == version and
              any(d["model_version"] == version for d in s["loaded"]), f"the {label} canary is loaded")
    codes = []

    def rolled_back() -> bool:
        for user in users:
            codes.append(call(a if user % 2 else b, "GET", f"/recommend/{user}?k=5")[0])
        return all(s["canary"] is None for s in map(status, cluster.workers))
    wait_until(rolled_back, 90, f"the {label} canary rolled back")
    assert set(codes) == {200}, "stable answered the users of the broken canary"
    rollbacks = [e for e in cluster.events() if e["action"] == "rollback" and e["model_version"] == version]
    assert len(rollbacks) == 1 and rollbacks[0]["arm"] == "canary" and rollbacks[0]["actor"].startswith("guard:")
    assert words in rollbacks[0]["reason"]
    for shown in map(status, cluster.workers):
        assert shown["last_rollback"]["reason"] == rollbacks[0]["reason"] and shown["canary"] is None
    counted = [sum(float(line.rsplit(" ", 1)[1]) for line in w.get("/metrics")[1].decode().splitlines()
                   if line.startswith("movierecs_rollout_rollbacks_total{")) for w in cluster.workers]
    assert sorted(counted)[0] == 0 and sum(counted) >= 1, "only the leader acted"


def test_a_restarted_worker_rebuilds_the_state_and_serves_the_same_arms(cluster: Cluster, versions: dict) -> None:
    a, b = cluster.workers
    stable = status(a)["stable"]["model_version"]
    rollout(a, {"action": "ab_start", "experiment": "restart", "split": 40, "arms": [
        {"name": "control", "model_name": "als", "model_version": stable},
        {"name": "treatment", "model_name": "als", "model_version": versions["v1"], "reranker": "mmr:lambda=0.3"}]})
    rollout(a, {"action": "shadow", "model_name": "als", "model_version": versions["v1"]})
    all_serve(cluster, lambda s: s["experiment"] and s["shadow"], "the experiment and the shadow")
    users = range(40_001, 40_201)
    before = {user: recommend(a, user)["provenance"]["arm"] for user in users}
    def rollout_state(shown: dict) -> dict:
        return {"stable": shown["stable"]["model_version"], "experiment": shown["experiment"],
                "shadow": {k: v for k, v in shown["shadow"].items() if k != "figures"},
                "last_rollback": shown["last_rollback"], "canary": shown["canary"]}
    state = rollout_state(status(a))
    b.stop()
    b.start().wait_ready()
    rebuilt = status(b)
    assert rebuilt["state_ready"] and rebuilt["applied"], "ready means every named version is loaded"
    assert rebuilt["events"] == status(a)["events"]
    assert rollout_state(rebuilt) == state
    assert {user: recommend(b, user)["provenance"]["arm"] for user in users} == before
    wait_until(lambda: status(b)["shadow"]["figures"]["requests"] > 0, 30, "the shadow scores requests")
    shown = cluster.cli("rollout", "status")
    assert shown.returncode == 0 and "experiment restart: control=als:" in shown.stdout, shown.stdout + shown.stderr
    assert "treatment" in shown.stdout and "@mmr:lambda=0.3" in shown.stdout


def test_retraining_by_hand_trains_on_the_snapshots_and_starts_a_canary(cluster: Cluster, tmp_path: Path) -> None:
    a, _ = cluster.workers
    rollout(a, {"action": "ab_stop", "experiment": "restart"})
    all_serve(cluster, lambda s: s["experiment"] is None, "the experiment stopped")
    frame = generate(n_users=150, n_movies=200, n_interactions=4_000, seed=9)[0].sort_values("ts")
    now, first, span = int(time.time() * 1000), frame["ts"].min(), frame["ts"].max() - frame["ts"].min()

    async def write() -> None:
        sink = SnapshotSink(FileStore(tmp_path / "snapshots"))
        for offset, row in enumerate(frame.itertuples()):
            ts = now - 86_400_000 + int((row.ts - first) / span * 3_600_000)
            await sink.add("watch", 0, offset, {"ts": ts, "user_id": int(row.user_id),
                                                 "movie_id": int(row.movie_id), "minute": 0})
        await sink.flush("watch", 0)
    asyncio.run(write())
    done = cluster.cli("retrain", "--json", MOVIE_RECS_SNAPSHOTS=f"file://{tmp_path / 'snapshots'}",
                       MOVIE_RECS_PROMOTE_MAX_REGRESSION="1.0", MOVIE_RECS_RETRAIN_CANARY_PERCENT="20")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1][len(RESULT_PREFIX):])
    assert result["outcome"] == "canary", result
    all_serve(cluster, lambda s: s["canary"] and s["canary"]["model_version"] == result["model_version"]
              and s["canary"]["percent"] == 20, "the retrained canary")
    (started,) = [e for e in cluster.events() if e["action"] == "canary" and e["actor"] == "retrain"]
    assert "gate:" in started["reason"] and started["model_version"] == result["model_version"]
