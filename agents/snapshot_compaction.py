"""Compaction of closed snapshot files, on a timer, by each partition's owner.

Each worker compacts the partitions of ``watch`` and ``rate`` that Faust assigned to it
(the ingest agent's assignment), so one partition has one compactor at a time (two during
a rebalance are harmless: see ``app.snapshots.compaction``). The work runs in a thread
with its own event loop and store, so Parquet decoding and encoding never stall this one.
"""
from __future__ import annotations

import asyncio
import logging
import time

from app import app
from app.settings import Settings, get_settings
from app.snapshots.compaction import Policy, Report, compact
from app.storage import open_store

log = logging.getLogger(__name__)
settings = get_settings()
TOPICS = ("watch", "rate")


def owned_partitions(topic: str) -> set[int]:
    """Partitions of ``topic`` this worker owns now."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topic(topic)}


def compact_owned(config: Settings, owned: dict[str, set[int]]) -> list[Report]:
    """One compaction pass over the given partitions (run in a worker thread)."""
    policy = Policy.at(int(time.time() * 1000), config.snapshot_compact_min_age_s,
                       config.snapshot_compact_target_bytes, config.snapshot_compact_max_hours)

    async def run() -> list[Report]:
        async with open_store(config.snapshots, config) as store:
            return [await compact(store, topic, policy, partitions) for topic, partitions in owned.items()
                    if partitions]
    return asyncio.run(run())


if settings.snapshot_enabled and settings.snapshot_compact_interval_s > 0:
    @app.timer(settings.snapshot_compact_interval_s)
    async def compact_snapshots() -> None:
        """Merge the closed snapshot files of the partitions this worker owns."""
        owned = {topic: owned_partitions(topic) for topic in TOPICS}
        try:
            reports = await asyncio.to_thread(compact_owned, settings, owned)
        except Exception:  # the store may be down; the next pass tries again
            log.exception("snapshot compaction failed")
            return
        for report in reports:
            if report.merged or report.deleted:
                log.info("compacted %s: %d files -> %d", report.topic, report.files_before, report.files_after)
