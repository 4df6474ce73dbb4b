"""Merge a partition's consecutive closed snapshot files into larger ones, atomically for readers.

The hourly cut makes a backfill of old data write one tiny file per partition and hour
(tens of thousands for the synthetic demo), which makes listing and reading slow. A
compaction takes runs of consecutive files of one (topic, partition), all of whose hours
are closed, and writes their rows as one file named for the whole offset range and span of
hours (``SnapshotName.hours``). The commit point is that file's ``put``, which is atomic in
every store: before it, nothing changed; after it, the merged file *covers* its inputs and
readers ignore them (``manifest.uncovered``), whether they are deleted next or left behind
by a crash, in which case the next compaction deletes them. So each event is read from
exactly one file at every moment, and a crash at any point loses and duplicates nothing.
The sink resumes after the largest offset in any file name, which merging never changes.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

import pyarrow as pa

from app.snapshots import codec
from app.snapshots.exceptions import CorruptSnapshot, NotASnapshotName
from app.snapshots.manifest import fetch_file, uncovered
from app.snapshots.naming import HOUR_MS, SnapshotName, topic_prefix
from app.snapshots.reader import first_of_each_offset
from app.storage import KeyNotFound, Store, retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """Which files may merge, and how large a merged file may grow."""

    closed_before_hour: int
    """Only files whose whole span ends at or before this hour (since the epoch) are merged."""
    target_bytes: int = 64 * 2**20
    """A merged file stops growing once its inputs reach this size."""
    max_hours: int = 31 * 24
    """Longest span of event time one merged file may cover (range reads stay selective)."""

    @classmethod
    def at(cls, now_ms: int, min_age_s: float, target_bytes: int, max_hours: int) -> Policy:
        """The policy at wall time ``now_ms``: a span is closed ``min_age_s`` after it ended."""
        return cls(int(now_ms - min_age_s * 1000) // HOUR_MS, target_bytes, max_hours)


@dataclass
class Report:
    """What one compaction did, for the CLI and the logs."""

    topic: str
    files_before: int = 0
    files_after: int = 0
    merged: list[str] = field(default_factory=list)
    """Keys of the files written."""
    deleted: int = 0
    failed: list[str] = field(default_factory=list)
    """Groups left as they were, and why (a corrupt input, a file gone meanwhile)."""


def plan(sized: Iterable[tuple[SnapshotName, int]], policy: Policy) -> tuple[list[list[SnapshotName]], list[SnapshotName]]:
    """(runs of files to merge, files already covered by another), from names and their sizes.

    A run is consecutive in offset order within one partition, every member closed, at
    least two long, within ``target_bytes`` and ``max_hours``. Pure: tested without a store.
    """
    sizes = dict(sized)
    kept = set(uncovered(sizes))
    covered = sorted(set(sizes) - kept)
    by_partition: dict[tuple[str, int], list[SnapshotName]] = {}
    for name in kept:
        by_partition.setdefault((name.topic, name.partition), []).append(name)
    runs: list[list[SnapshotName]] = []
    for names in by_partition.values():
        run: list[SnapshotName] = []
        for name in sorted(names, key=lambda n: n.first_offset):
            closed = name.end_hour <= policy.closed_before_hour
            if run and (not closed or not _fits(run, name, sizes, policy)):
                runs.append(run)
                run = []
            if closed:
                run.append(name)
        runs.append(run)
    return [run for run in runs if len(run) > 1], covered


def _fits(run: list[SnapshotName], name: SnapshotName, sizes: dict[SnapshotName, int], policy: Policy) -> bool:
    span = max(n.end_hour for n in (*run, name)) - min(n.hour for n in (*run, name))
    return sum(sizes[n] for n in run) + sizes[name] <= policy.target_bytes and span <= policy.max_hours


def merged_name(run: list[SnapshotName]) -> SnapshotName:
    """The name that covers every file of ``run``: its whole offset range and span of hours."""
    start = min(n.hour for n in run)
    return SnapshotName(run[0].topic, start, run[0].partition, min(n.first_offset for n in run),
                        max(n.last_offset for n in run), max(n.end_hour for n in run) - start)


async def merge(store: Store, run: list[SnapshotName]) -> SnapshotName:
    """Write the run's rows as one file (the commit point), then delete the inputs."""
    tables = [(await fetch_file(store, name))[1] for name in run]
    target = merged_name(run)

    def build() -> bytes:
        rows = pa.concat_tables(tables).sort_by([("offset", "ascending")])
        return codec.encode_table(target, first_of_each_offset(rows))  # two writers may overlap

    data = await asyncio.to_thread(build)
    await retry(partial(store.put, target.key, data))
    for name in run:
        await retry(partial(store.delete, name.key))
    return target


async def compact(store: Store, topic: str, policy: Policy, partitions: Iterable[int] | None = None) -> Report:
    """Compact the closed files of ``topic`` (only ``partitions``, when given) in ``store``."""
    wanted = None if partitions is None else set(partitions)
    sized = []
    for stored in await retry(partial(store.list, topic_prefix(topic))):
        try:
            name = SnapshotName.parse(stored.key)
        except NotASnapshotName:
            continue
        if wanted is None or name.partition in wanted:
            sized.append((name, stored.size))
    report = Report(topic, files_before=len(sized))
    runs, covered = plan(sized, policy)
    for name in covered:  # left by a crash between a merge's put and its deletes
        await retry(partial(store.delete, name.key))
    report.deleted += len(covered)
    for run in runs:
        try:
            target = await merge(store, run)
        except (CorruptSnapshot, KeyNotFound) as err:
            report.failed.append(f"{run[0].key} .. {run[-1].key}: {type(err).__name__}: {err}")
            log.warning("snapshot compaction left %d files of %s as they were: %s", len(run), topic, err)
            continue
        report.merged.append(target.key)
        report.deleted += len(run)
    report.files_after = report.files_before - report.deleted + len(report.merged)
    return report
