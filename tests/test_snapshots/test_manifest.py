"""Manifests: what they list, a content hash that is stable and follows the bytes, and skips."""
from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.snapshots import (
    Manifest,
    ManifestMismatch,
    SnapshotName,
    SnapshotRange,
    SnapshotSink,
    build_manifest,
    codec,
)
from app.storage import FileStore, Store
from tests.test_snapshots.streams import START_MS, batch_of, watch_event, watch_stream, write_all

WATCH = SnapshotRange(topics=("watch",))


async def written(store: Store, count: int = 400) -> Store:
    await write_all(SnapshotSink(store, max_events=60), watch_stream(count, partitions=2), flush=True)
    return store


async def test_lists_every_file_with_rows_offsets_and_totals(file_store: FileStore) -> None:
    manifest = await build_manifest(await written(file_store), WATCH)
    keys = [stored.key for stored in await file_store.list()]
    assert [f.key for f in manifest.files] == keys and manifest.skipped == ()
    assert manifest.rows == 400 == sum(f.rows for f in manifest.files)
    assert manifest.size == sum(s.size for s in await file_store.list())
    for entry in manifest.files:
        name = SnapshotName.parse(entry.key)
        assert (entry.topic, entry.partition, entry.first_offset, entry.last_offset) == (
            name.topic, name.partition, name.first_offset, name.last_offset
        )


async def test_id_is_stable_across_builds_stores_and_json(tmp_path: Path) -> None:
    one = await build_manifest(await written(FileStore(tmp_path / "one")), WATCH)
    again = await build_manifest(FileStore(tmp_path / "one"), WATCH)
    other = await build_manifest(await written(FileStore(tmp_path / "two")), WATCH)
    assert one.snapshot_id == again.snapshot_id == other.snapshot_id
    assert Manifest.from_json(one.to_json()) == one


async def test_id_changes_when_content_changes(file_store: FileStore) -> None:
    before = await build_manifest(await written(file_store), WATCH)
    target = SnapshotName.parse(before.files[0].key)
    # Same name, same offsets, one movie id different: what a bad rewrite would look like.
    table = codec.decode(target, await file_store.get(target.key))
    columns = [table[name].to_pylist() for name in ("ts", "user_id", "movie_id", "minute")]
    rows = list(zip(*columns, strict=True))
    rows[0] = (rows[0][0], rows[0][1], rows[0][2] + 1, rows[0][3])
    batch = batch_of("watch", target.partition, target.hour, table["offset"].to_pylist(), rows)
    await file_store.put(target.key, codec.encode(batch))
    changed = await build_manifest(file_store, WATCH)
    assert [f.key for f in changed.files] == [f.key for f in before.files]
    assert changed.snapshot_id != before.snapshot_id

    await write_all(SnapshotSink(file_store, max_events=60), [(0, 10_000, watch_event(START_MS))], flush=True)
    added = await build_manifest(file_store, WATCH)
    assert added.snapshot_id not in (before.snapshot_id, changed.snapshot_id)


async def test_tampered_json_is_refused(file_store: FileStore) -> None:
    manifest = await build_manifest(await written(file_store), WATCH)
    tampered = dataclasses.replace(manifest, files=manifest.files[1:])
    with pytest.raises(ManifestMismatch):
        Manifest.from_json(tampered.to_json())


async def test_range_takes_the_hours_that_overlap_it(file_store: FileStore) -> None:
    await written(file_store)
    hours = sorted({SnapshotName.parse(s.key).start for s in await file_store.list()})
    assert len(hours) >= 3
    middle = await build_manifest(file_store, SnapshotRange(("watch",), since=hours[1], until=hours[2]))
    assert {SnapshotName.parse(f.key).start for f in middle.files} == {hours[1]}
    naive_tail = hours[1].replace(minute=30, tzinfo=None)  # naive means UTC; 30 past still overlaps
    tail = await build_manifest(file_store, SnapshotRange(("watch",), since=naive_tail))
    assert {SnapshotName.parse(f.key).start for f in tail.files} == set(hours[1:])
    assert tail.since == datetime(hours[1].year, hours[1].month, hours[1].day, hours[1].hour, 30,
                                  tzinfo=UTC).isoformat()


async def test_bad_files_are_skipped_logged_and_listed(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    good = await build_manifest(await written(store, count=120), WATCH)
    first = good.files[0]
    data = await store.get(first.key)
    spare = dataclasses.replace(SnapshotName.parse(first.key), first_offset=900_000, last_offset=900_010)
    bad = {
        dataclasses.replace(spare, partition=7).key: b"PAR1 this is not parquet PAR1",
        dataclasses.replace(spare, partition=8).key: data[: len(data) // 2],  # truncated
        spare.key: data,  # a real file under a name that is not its own
        first.key.rsplit("/", 1)[0] + "/notes.txt": b"hello",
        first.key + ".tmp": data,  # a writer's leftover temporary name
        "topic=watch/_SUCCESS": b"",
    }
    for key, content in bad.items():
        await store.put(key, content)
    with caplog.at_level(logging.WARNING, logger="app.snapshots"):
        manifest = await build_manifest(store, WATCH)

    assert manifest.files == good.files and manifest.snapshot_id == good.snapshot_id
    assert sorted(s.key for s in manifest.skipped) == sorted(bad)
    reasons = {s.key: s.reason for s in manifest.skipped}
    assert "footer says" in reasons[spare.key]
    assert "not a snapshot file name" in reasons["topic=watch/_SUCCESS"]
    assert all(any(key in record.getMessage() for record in caplog.records) for key in bad)
