"""The manifest of a snapshot: which files, how many rows, and a content hash as its id."""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import pyarrow as pa

from app.snapshots import codec
from app.snapshots.exceptions import CorruptSnapshot, ManifestMismatch, NotASnapshotName
from app.snapshots.naming import SnapshotName, topic_prefix
from app.snapshots.schema import schema_for
from app.storage import KeyNotFound, Store, retry

log = logging.getLogger(__name__)
T = TypeVar("T")
_ID_VERSION = b"movierecs-snapshot-v1\n"
FETCH_CONCURRENCY = 4


def _utc(moment: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC, the time zone of the hour directories."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SnapshotRange:
    """The files of ``topics`` whose hour overlaps [since, until); None leaves a side open.

    Hour granularity, on the paths: a file may also hold events up to the writer's late
    grace before its hour, so filter on ``ts`` where exact bounds matter.
    """

    topics: tuple[str, ...] = ("watch", "rate")
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for topic in self.topics:
            schema_for(topic)
        object.__setattr__(self, "since", _utc(self.since))
        object.__setattr__(self, "until", _utc(self.until))

    def covers(self, name: SnapshotName) -> bool:
        """Whether the file's hour (or span of hours) overlaps the range."""
        start = name.start
        return (self.since is None or start + timedelta(hours=name.hours) > self.since) and (
            self.until is None or start < self.until
        )


@dataclass(frozen=True)
class ManifestFile:
    """One file a snapshot reads; ``sha256`` is of the file's bytes."""

    key: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    rows: int
    size: int
    sha256: str


@dataclass(frozen=True)
class SkippedFile:
    """A key under a topic prefix that is not served, and why."""

    key: str
    reason: str


def compute_snapshot_id(files: Iterable[ManifestFile]) -> str:
    """sha256 over each file's key, row count and content sha256, in key order.

    Hashing the content, not a footer digest, makes the id change whenever any byte a
    training run read changes (a rewrite, bit rot); the trainer downloads every byte
    anyway, so the hash costs no extra I/O.
    """
    digest = hashlib.sha256(_ID_VERSION)
    for entry in sorted(files, key=lambda f: f.key):
        digest.update(f"{entry.key}\t{entry.rows}\t{entry.sha256}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The files a snapshot consists of; ``snapshot_id`` is the content hash of them."""

    snapshot_id: str
    topics: tuple[str, ...]
    since: str | None
    until: str | None
    files: tuple[ManifestFile, ...]
    skipped: tuple[SkippedFile, ...]
    """Keys left out (foreign names, corrupt or truncated files); they are not in the id."""
    rows: int
    size: int

    @classmethod
    def of(
        cls, span: SnapshotRange, files: Iterable[ManifestFile], skipped: Iterable[SkippedFile]
    ) -> Manifest:
        """The manifest of these files, with its id and totals computed."""
        files = tuple(sorted(files, key=lambda f: f.key))
        return cls(
            snapshot_id=compute_snapshot_id(files),
            topics=span.topics,
            since=None if span.since is None else span.since.isoformat(),
            until=None if span.until is None else span.until.isoformat(),
            files=files,
            skipped=tuple(sorted(skipped, key=lambda s: s.key)),
            rows=sum(f.rows for f in files),
            size=sum(f.size for f in files),
        )

    def to_json(self) -> str:
        """The manifest as JSON (stored next to a model card, served by /trace)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """A manifest read back; ``ManifestMismatch`` if its id does not match its files."""
        data: dict[str, Any] = json.loads(text)
        manifest = cls(
            **{
                **data,
                "topics": tuple(data["topics"]),
                "files": tuple(ManifestFile(**f) for f in data["files"]),
                "skipped": tuple(SkippedFile(**s) for s in data["skipped"]),
            }
        )
        if compute_snapshot_id(manifest.files) != manifest.snapshot_id:
            raise ManifestMismatch(f"snapshot_id {manifest.snapshot_id} does not match the files listed")
        return manifest


async def gather_bounded(calls: Sequence[Awaitable[T]], limit: int = FETCH_CONCURRENCY) -> list[T]:
    """Await all ``calls`` with at most ``limit`` in flight, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))


async def list_range(store: Store, span: SnapshotRange) -> tuple[list[SnapshotName], list[SkippedFile]]:
    """The snapshot names in ``span``, and the foreign keys found under its topics' prefixes."""
    names, skipped = [], []
    for topic in span.topics:
        found = []
        for stored in await retry(partial(store.list, topic_prefix(topic))):
            try:
                found.append(SnapshotName.parse(stored.key))
            except NotASnapshotName:
                skipped.append(SkippedFile(stored.key, "not a snapshot file name"))
        names += [name for name in uncovered(found) if span.covers(name)]
    return names, skipped


def uncovered(names: Iterable[SnapshotName]) -> list[SnapshotName]:
    """The names no other name covers: a compaction's inputs are ignored once its output exists.

    This is what makes compaction atomic for readers: the merged file appears whole (one
    ``put``), and from then on its inputs (deleted next, or left by a crash) are not read.
    """
    by_partition: dict[tuple[str, int], list[SnapshotName]] = {}
    for name in names:
        by_partition.setdefault((name.topic, name.partition), []).append(name)
    kept = []
    for group in by_partition.values():
        # Widest first within a start offset: a covering file is seen before what it covers.
        group.sort(key=lambda n: (n.first_offset, -n.last_offset))
        reach = -1
        for name in group:
            if name.last_offset > reach:
                kept.append(name)
                reach = name.last_offset
            # else: inside a kept file's range, which covers it
    return kept


def _inspect(name: SnapshotName, data: bytes) -> tuple[ManifestFile, pa.Table]:
    table = codec.decode(name, data)
    entry = ManifestFile(
        key=name.key,
        topic=name.topic,
        partition=name.partition,
        first_offset=name.first_offset,
        last_offset=name.last_offset,
        rows=table.num_rows,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return entry, table


async def fetch_file(store: Store, name: SnapshotName) -> tuple[ManifestFile, pa.Table]:
    """Download, hash and fully decode one file (off the event loop).

    Raises ``CorruptSnapshot`` or ``KeyNotFound``. Decoding every page (with checksums),
    not just the footer, is what lets a manifest promise the reader can serve each file.
    """
    data = await retry(partial(store.get, name.key))
    return await asyncio.to_thread(_inspect, name, data)


async def scan(
    store: Store, span: SnapshotRange, *, keep_tables: bool = True
) -> tuple[Manifest, dict[str, pa.Table]]:
    """The manifest of ``span`` and (if kept) the table of each file; bad files are skipped."""

    async def attempt(name: SnapshotName) -> tuple[ManifestFile, pa.Table | None] | SkippedFile:
        try:
            entry, table = await fetch_file(store, name)
        except (CorruptSnapshot, KeyNotFound) as err:
            return SkippedFile(name.key, f"{type(err).__name__}: {err}")
        return entry, table if keep_tables else None

    names, skipped = await list_range(store, span)
    results = await gather_bounded([attempt(name) for name in names])
    if any(isinstance(r, SkippedFile) and r.reason.startswith(KeyNotFound.__name__) for r in results):
        # A compaction replaced files between the listing and the reads; its output covers
        # them, so a second listing finds every event (compactions are minutes apart).
        names, skipped = await list_range(store, span)
        results = await gather_bounded([attempt(name) for name in names])
    files, tables = [], {}
    for result in results:
        if isinstance(result, SkippedFile):
            skipped.append(result)
        else:
            entry, table = result
            files.append(entry)
            if table is not None:
                tables[entry.key] = table
    for skip in skipped:
        log.warning("snapshot file skipped, not served: %s (%s)", skip.key, skip.reason)
    return Manifest.of(span, files, skipped), tables


async def build_manifest(store: Store, span: SnapshotRange) -> Manifest:
    """The manifest of the files in ``span``, checked as the reader would check them."""
    manifest, _ = await scan(store, span, keep_tables=False)
    return manifest
