"""What the fault tests share: a group of workers, known events and requests, and the counts that came out."""
from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.serving_peers import delete_topics
from tests.kafka_tools import Worker, free_port
from tests.test_integration.test_serving_kafka import frame_avro, unframe_avro

USERS = range(1, 301)
PARTITIONS = 8
HEALTH_TIMEOUT_S = 150.0
STOP_TIMEOUT_S = 90.0


def events(count: int, seed: int, users: range = USERS) -> list[tuple[str, dict]]:
    """``count`` valid watch and rate events (about three watches per rating), times just before now."""
    rng, now = random.Random(seed), int(time.time() * 1000) - 60_000
    out = []
    for index in range(count):
        user, movie = rng.choice(users), rng.randint(1, 400)
        if index % 4 == 3:
            out.append(("rate", {"ts": now + index, "user_id": user, "movie_id": movie, "rating": rng.randint(1, 5)}))
        else:
            out.append(("watch", {"ts": now + index, "user_id": user, "movie_id": movie, "minute": rng.randint(0, 90)}))
    return out


def reco_request(user_id: int) -> dict:
    return {"request_id": uuid.uuid4().hex, "ts": int(time.time() * 1000), "user_id": user_id, "k": 5,
            "client_id": "fault-test", "exclude": []}


@dataclass
class Group:
    """Workers of one app id on topics of their own, sharing a registry and a snapshot folder."""

    bootstrap: str
    tmp: Path
    registry: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        run = uuid.uuid4().hex[:8]
        self.prefix = f"fault-{run}-"
        self.env = {"MOVIE_RECS_KAFKA_BOOTSTRAP": self.bootstrap, "MOVIE_RECS_TOPIC_PREFIX": self.prefix,
                    "MOVIE_RECS_APP_ID": f"fault-{run}", "MOVIE_RECS_PARTITIONS": str(PARTITIONS),
                    "MOVIE_RECS_REGISTRY": f"file://{self.registry}", "MOVIE_RECS_SERVE_MODEL": "als",
                    "MOVIE_RECS_SNAPSHOTS": f"file://{self.snapshots}",
                    # the clean stop writes open snapshot batches, which the tests count: on a loaded
                    # CI machine that can take longer than the default bound
                    "MOVIE_RECS_STOP_TIMEOUT_S": str(STOP_TIMEOUT_S), **self.extra_env}

    @property
    def snapshots(self) -> Path:
        return self.tmp / "snapshots"

    def worker(self, name: str) -> Worker:
        """Worker ``name`` (its static member id), created on first use with its own port and data."""
        if name not in self.workers:
            env = {**self.env, "MOVIE_RECS_WORKER_ID": name, "MOVIE_RECS_WEB_PORT": str(free_port()),
                   "MOVIE_RECS_DATA_DIR": str(self.tmp / name)}
            self.workers[name] = Worker(env, self.tmp / f"{name}.log")
        return self.workers[name]

    def start(self, *names: str) -> None:
        for index, name in enumerate(names):
            worker = self.worker(name)
            if index == 0 and not (self.tmp / ".topics").exists():
                worker.create_topics()
                (self.tmp / ".topics").touch()
            worker.start()

    def alive(self) -> dict[str, Worker]:
        return {n: w for n, w in self.workers.items() if w.proc is not None and w.proc.poll() is None}

    def health(self, worker: Worker) -> tuple[int, dict]:
        try:
            status, body = worker.get("/health", timeout_s=3.0)
            return status, json.loads(body)
        except (OSError, ValueError):
            return 0, {}

    def settle(self, timeout_s: float = HEALTH_TIMEOUT_S) -> dict[str, list[int]]:
        """Until every live worker is ready and their partitions are all 8, each once."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = {name: self.health(w) for name, w in self.alive().items()}
            owned = {name: body.get("cluster", {}).get("partitions", []) for name, (_, body) in seen.items()}
            spread = sorted(p for parts in owned.values() for p in parts) == list(range(PARTITIONS))
            if spread and all(status == 200 for status, _ in seen.values()) and all(owned.values()):
                return owned
            if time.monotonic() > deadline:
                tails = "\n".join(w.log_tail(15) for w in self.alive().values())
                raise TimeoutError(f"the group did not settle in {timeout_s}s: {seen}\n{tails}")
            time.sleep(0.5)

    def counts_per_user(self, via: Worker) -> dict[int, int]:
        """Each user's watch + rate events as the tables hold them, asked of ``via`` (routed to owners)."""
        counts = {}
        for user in USERS:
            status, body = via.get(f"/users/{user}", timeout_s=5.0)
            assert status == 200, (user, status, body)
            state = json.loads(body)
            counts[user] = state["watch_events"] + state["rate_events"]
        return counts

    def stop_all(self) -> None:
        """SIGTERM every live worker at once, then wait for each (a clean stop flushes its snapshots)."""
        alive = list(self.alive().values())
        for worker in alive:
            worker.proc.send_signal(signal.SIGTERM)
        for worker in alive:
            try:
                worker.proc.wait(STOP_TIMEOUT_S + 10)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()

    async def delete_topics(self) -> None:
        """Drop the run's topics and changelogs (all under the prefix): the broker is shared."""
        await delete_topics(self.bootstrap, self.prefix)


def expected_per_user(sent: list[tuple[str, dict]]) -> dict[int, int]:
    counts = dict.fromkeys(USERS, 0)
    for _, event in sent:
        counts[event["user_id"]] += 1
    return counts


async def produce(bootstrap: str, prefix: str, records: list[tuple[str, dict]], pause_every: int = 0,
                  pause_s: float = 0.0) -> None:
    """Send events (or requests) keyed by user, as an outside client does; optionally paced."""
    names = {"watch": "WatchEvent", "rate": "RateEvent", "reco-requests": "RecoRequest"}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        for index, (topic, value) in enumerate(records):
            await producer.send(prefix + topic, frame_avro(names[topic], value), key=str(value["user_id"]).encode())
            if pause_every and index % pause_every == pause_every - 1:
                await asyncio.sleep(pause_s)
    finally:
        await producer.stop()


class Answers:
    """Every RecoResponse on ``reco-responses`` from now on, by request id."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(prefix + "reco-responses", bootstrap_servers=bootstrap,
                                         auto_offset_reset="latest", group_id=f"client-{uuid.uuid4().hex[:6]}")
        self.by_id: dict[str, list[dict]] = {}

    async def __aenter__(self) -> "Answers":
        await self.consumer.start()
        while not self.consumer.assignment():  # positions set before anything is asked
            await asyncio.sleep(0.1)
        for tp in self.consumer.assignment():
            await self.consumer.position(tp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def wait(self, request_ids: set[str], timeout_s: float) -> set[str]:
        """Request ids among ``request_ids`` still unanswered after waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while request_ids - set(self.by_id) and time.monotonic() < deadline:
            for records in (await self.consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    answer = unframe_avro("RecoResponse", record.value)
                    self.by_id.setdefault(answer["request_id"], []).append(answer)
        return request_ids - set(self.by_id)


