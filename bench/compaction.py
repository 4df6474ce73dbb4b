"""Snapshot compaction on the synthetic demo's files: file count, listing and training read, before and after.

Run from the repository root (no broker needed)::

    python -m bench.compaction            # the demo's size: 300,000 events as docker/up.sh sends
    python -m bench.compaction --smoke    # a tiny run, for CI

The files are those the worker's sink writes for the demo (``movie-recs simulate --limit
300000`` of the synthetic set, event times shifted to end now): the same stream, placed on
partitions by murmur2 like Kafka, cut by the sink's own ``PartitionBuffer`` with the default
settings, written to a file store. Measured on them, then again after ``compact`` with the
default policy (files whose span ended over 2 hours ago): how many files, how long the
``snapshots list`` work takes (every file listed, read and hashed), and how long training's
read takes (``read_snapshot`` of everything plus the interaction frame). The "before" run
is the baseline of the same run. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from app.partitioning import partition_of, user_key
from app.settings import Settings
from app.snapshots import SnapshotRange, build_manifest, codec, read_snapshot
from app.snapshots.compaction import Policy, compact
from app.snapshots.writer import PartitionBuffer
from app.storage import FileStore
from models.data.events import build_stream
from models.data.snapshots import interactions_from_events
from models.data.synthetic import generate

TOPICS = ("watch", "rate")


def demo_events(events: int, seed: int, now_ms: int) -> list[tuple[str, dict[str, int]]]:
    """The first ``events`` watch and rate events of the demo's simulated stream."""
    interactions = generate(seed=seed)[0]
    interactions = interactions.assign(ts=interactions["ts"] + (now_ms - int(interactions["ts"].max())))
    stream = build_stream(interactions, seed=seed, max_minutes=3, request_share=0.05)
    picked = []
    for topic, _, value in stream:
        if len(picked) >= events:
            break
        if topic in TOPICS:
            picked.append((topic, value))
    return picked


async def write_files(store: FileStore, events: list[tuple[str, dict[str, int]]], settings: Settings,
                      partitions: int) -> None:
    """Cut and store the events exactly as the sink would."""
    buffers: dict[tuple[str, int], PartitionBuffer] = {}
    offsets: dict[tuple[str, int], int] = {}
    batches = []
    for topic, value in events:
        where = (topic, partition_of(user_key(value["user_id"]), partitions))
        buffer = buffers.setdefault(where, PartitionBuffer(
            topic, where[1], max_events=settings.snapshot_max_events, late_grace_ms=settings.snapshot_late_grace_ms))
        offset = offsets.get(where, 0)
        offsets[where] = offset + 1
        batches += buffer.add(offset, value)
    for buffer in buffers.values():
        batches += buffer.drain()
    for batch in batches:
        await store.put(batch.name.key, codec.encode(batch))


async def measure(store: FileStore) -> dict[str, Any]:
    """File count, the listing's seconds and the training read's seconds."""
    span = SnapshotRange(topics=TOPICS)
    started = time.perf_counter()
    manifest = await build_manifest(store, span)
    listed = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = await read_snapshot(store, span)
    frame = interactions_from_events(snapshot.frame("watch"), snapshot.frame("rate"))
    read = time.perf_counter() - started
    return {"files": len(manifest.files), "rows": manifest.rows, "interactions": len(frame),
            "list_s": round(listed, 3), "read_s": round(read, 3)}


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    settings = Settings()
    now_ms = int(time.time() * 1000)
    store = FileStore(root)
    await write_files(store, demo_events(args.events, args.seed, now_ms), settings, args.partitions)
    before = await measure(store)
    policy = Policy.at(now_ms, settings.snapshot_compact_min_age_s, settings.snapshot_compact_target_bytes,
                       settings.snapshot_compact_max_hours)
    started = time.perf_counter()
    reports = [await compact(store, topic, policy) for topic in TOPICS]
    compact_s = time.perf_counter() - started
    after = await measure(store)
    assert after["rows"] == before["rows"] and after["interactions"] == before["interactions"]
    return {"bench": "compaction", "events": args.events, "before": before, "after": after,
            "compact_s": round(compact_s, 3), "merged": sum(len(r.merged) for r in reports),
            "files_ratio": round(after["files"] / before["files"], 4),
            "list_ratio": round(after["list_s"] / max(before["list_s"], 1e-9), 4),
            "read_ratio": round(after["read_s"] / max(before["read_s"], 1e-9), 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="watch and rate events, as up.sh sends")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (3,000 events)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events = 3_000
    with tempfile.TemporaryDirectory(prefix="bench-compaction-") as workdir:
        result = asyncio.run(run(args, Path(workdir)))
    print(f"{'':<8} {'files':>7} {'rows':>9} {'list s':>8} {'read s':>8}")
    for label in ("before", "after"):
        r = result[label]
        print(f"{label:<8} {r['files']:>7} {r['rows']:>9} {r['list_s']:>8.2f} {r['read_s']:>8.2f}")
    print(f"compaction took {result['compact_s']:.1f} s; files x{result['files_ratio']}, "
          f"list x{result['list_ratio']}, read x{result['read_ratio']}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
