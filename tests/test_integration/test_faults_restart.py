"""Every worker of the group stops and starts again: each user's state comes back whole, from
the changelogs (memory store) or from local RocksDB plus the changelog's tail (rocksdb://),
and events sent afterwards still count exactly once."""
from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.test_integration.faults import Group, events, expected_per_user, produce
from tests.test_integration.test_serving_kafka import registry_dir  # noqa: F401 - module fixture

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(480)]


async def wait_counts(group: Group, sent: list, timeout_s: float = 120.0) -> dict[int, int]:
    via = next(iter(group.alive().values()))
    deadline = time.monotonic() + timeout_s
    while (counts := await asyncio.to_thread(group.counts_per_user, via)) != expected_per_user(sent):
        assert time.monotonic() < deadline, f"tables hold {sum(counts.values())} events, {len(sent)} were sent"
        await asyncio.sleep(2.0)
    return counts


async def test_restart_all_workers(kafka_bootstrap: str, registry_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    pytest.importorskip("rocksdict")
    group = Group(kafka_bootstrap, tmp_path, registry_dir)
    group.worker("m1")  # memory:// by default
    group.worker("r1").env["MOVIE_RECS_STORE"] = "rocksdb://"
    first, then = events(1000, seed=6), events(500, seed=7)
    try:
        group.start("m1", "r1")
        await asyncio.to_thread(group.settle)
        await produce(kafka_bootstrap, group.prefix, first)
        await wait_counts(group, first)
        owned_before = await asyncio.to_thread(group.settle)

        for worker in group.workers.values():  # all down at once, no clean shutdown
            worker.stop(signal.SIGKILL)
        assert any((tmp_path / "r1").rglob("*.sst")) or any((tmp_path / "r1").rglob("CURRENT")), "no RocksDB files"
        group.start("m1", "r1")
        # Everyone rejoining is a full rebalance: partitions may change hands, and a RocksDB
        # worker given partitions it did not hold rebuilds them from their changelogs.
        owned_after = await asyncio.to_thread(group.settle)
        await wait_counts(group, first)  # nothing lost, nothing counted twice

        await produce(kafka_bootstrap, group.prefix, then)
        counts = await wait_counts(group, first + then)
        for name, worker in group.alive().items():  # each store serves too (titles come from its catalog)
            for user in range(1, 6):
                status, body = await asyncio.to_thread(worker.get, f"/recommend/{user}?k=5")
                assert status == 200, (name, user, status, body[:300])
        print(f"\nproduced {len(first)} + {len(then)} events around a restart of every worker; "
              f"tables hold {sum(counts.values())}; partitions {owned_before} before, {owned_after} after")
    finally:
        group.stop_all()
        await group.delete_topics()
