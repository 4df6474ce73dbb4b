"""SIGKILL one of three workers under events and requests: its partitions, tables and serving
move to the survivors, every request is answered and every event counts exactly once."""
from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from app.partitioning import partition_of, user_key
from bench.snapshots import check_files
from tests.test_integration.faults import (PARTITIONS, USERS, Answers, Group, events, expected_per_user,
                                           produce, reco_request)
from tests.test_integration.test_serving_kafka import registry_dir  # noqa: F401 - module fixture

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(480)]


def owned_users(partitions: list[int]) -> list[int]:
    return [u for u in USERS if partition_of(user_key(u), PARTITIONS) in partitions]


class HttpLoad(threading.Thread):
    """Asks survivors for random users until stopped; keeps every status it saw."""

    def __init__(self, workers: list, users: list[int]) -> None:
        super().__init__(daemon=True)
        self.workers, self.users, self.statuses = workers, users, []
        self.done = threading.Event()

    def run(self) -> None:
        rng = random.Random(1)
        while not self.done.is_set():
            try:
                status, _ = rng.choice(self.workers).get(f"/recommend/{rng.choice(self.users)}?k=5", timeout_s=5.0)
            except OSError:
                status = -1
            self.statuses.append(status)
            time.sleep(0.02)


async def test_sigkill_one_of_three(kafka_bootstrap: str, registry_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    group = Group(kafka_bootstrap, tmp_path, registry_dir)
    before, during = events(1500, seed=1), events(1500, seed=2)
    try:
        group.start("w1", "w2", "w3")
        owned = await asyncio.to_thread(group.settle)
        victims = owned_users(owned["w3"])
        async with Answers(kafka_bootstrap, group.prefix) as answers:
            early = [reco_request(u) for u in random.Random(3).sample(list(USERS), 20)]
            await produce(kafka_bootstrap, group.prefix, before + [("reco-requests", r) for r in early])
            assert await answers.wait({r["request_id"] for r in early}, 60) == set()

            survivors = [group.workers["w1"], group.workers["w2"]]
            http = HttpLoad(survivors, list(USERS))
            http.start()
            sending = asyncio.create_task(produce(kafka_bootstrap, group.prefix, during, pause_every=100,
                                                  pause_s=0.05))
            await asyncio.sleep(0.3)  # mid-stream
            killed_at = time.monotonic()
            group.workers["w3"].stop(signal.SIGKILL)
            orphaned = [reco_request(u) for u in victims[:15]]  # sent while their owner is dead
            await produce(kafka_bootstrap, group.prefix, [("reco-requests", r) for r in orphaned])
            await sending
            unanswered = await answers.wait({r["request_id"] for r in orphaned}, 120)
            failover_s = time.monotonic() - killed_at
            assert unanswered == set(), f"{len(unanswered)} of {len(orphaned)} requests unanswered"
            assert all(a[0]["status"] == 200 for r in orphaned for a in [answers.by_id[r["request_id"]]])

        owned = await asyncio.to_thread(group.settle)
        assert set(owned) == {"w1", "w2"}, "w3's partitions moved to the survivors"
        http.done.set()
        http.join()
        for user in victims[:10]:  # served again, by a survivor
            assert survivors[0].get(f"/recommend/{user}?k=5")[0] == 200

        sent = before + during
        deadline = time.monotonic() + 120
        while (counts := await asyncio.to_thread(group.counts_per_user, survivors[0])) != expected_per_user(sent):
            assert time.monotonic() < deadline, (
                f"tables hold {sum(counts.values())} events, {len(sent)} were sent; first differences: "
                f"{[(u, counts[u], n) for u, n in expected_per_user(sent).items() if counts[u] != n][:5]}")
            await asyncio.sleep(2.0)
        bad = [s for s in http.statuses if s not in (200, 503)]
        assert not bad, f"HTTP answers other than 200 or a clean 503 while w3 was dead: {bad[:10]}"
    finally:
        group.stop_all()  # a clean stop writes the survivors' open snapshot batches
        await group.delete_topics()
    files = await check_files(group.snapshots, len(sent))  # raises unless each event is there once
    print(f"\nproduced {len(sent)} events and {len(early) + len(orphaned)} Kafka requests; tables hold "
          f"{sum(counts.values())} events, snapshots {files['rows']} rows in {files['files']} files; "
          f"{len(orphaned)} orphaned requests answered {failover_s:.1f}s after the kill; HTTP statuses "
          f"{ {s: http.statuses.count(s) for s in set(http.statuses)} }")
