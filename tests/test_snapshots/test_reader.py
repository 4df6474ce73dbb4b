"""Reading a snapshot for training: typed tables, exact manifests, nothing served twice."""
from __future__ import annotations

import logging
import random

import pyarrow as pa
import pytest

from app.snapshots import (
    SCHEMAS,
    Batch,
    CorruptSnapshot,
    ManifestMismatch,
    PartitionBuffer,
    SnapshotName,
    SnapshotRange,
    SnapshotSink,
    build_manifest,
    codec,
    read_snapshot,
)
from app.snapshots.naming import HOUR_MS
from app.snapshots.schema import event_columns, schema_for, to_row
from app.storage import FileStore
from tests.test_snapshots.streams import (
    START_MS,
    batch_of,
    rate_event,
    watch_event,
    watch_stream,
    write_all,
)


async def test_reads_each_topic_into_a_typed_table(file_store: FileStore) -> None:
    watches = watch_stream(300, partitions=3)
    rates = [(0, n, rate_event(START_MS + n, movie_id=n, rating=1 + n % 5)) for n in range(20)]
    sink = SnapshotSink(file_store, max_events=50)
    await write_all(sink, watches, flush=True)
    await write_all(sink, rates, topic="rate", flush=True)

    snapshot = await read_snapshot(file_store, SnapshotRange())
    assert snapshot.tables["watch"].schema == SCHEMAS["watch"]
    assert snapshot.manifest.rows == 320 and snapshot.manifest.topics == ("watch", "rate")
    frame = snapshot.frame("rate")
    assert frame["rating"].dtype == "int8" and frame["rating"].tolist() == [1 + n % 5 for n in range(20)]
    assert sorted(snapshot.frame("watch")["offset"]) == sorted(offset for _, offset, _ in watches)


async def test_reading_a_manifest_again_gives_the_same_data_or_an_error(file_store: FileStore) -> None:
    await write_all(SnapshotSink(file_store, max_events=50), watch_stream(200), flush=True)
    first = await read_snapshot(file_store, SnapshotRange(topics=("watch",)))
    again = await read_snapshot(file_store, first.manifest)
    assert again.tables["watch"].equals(first.tables["watch"])

    await file_store.delete(first.manifest.files[-1].key)
    with pytest.raises(ManifestMismatch):
        await read_snapshot(file_store, first.manifest)
    await file_store.put(first.manifest.files[-1].key, b"not the same bytes")
    with pytest.raises(ManifestMismatch):
        await read_snapshot(file_store, first.manifest)


async def test_an_empty_range_is_empty_tables(file_store: FileStore) -> None:
    snapshot = await read_snapshot(file_store, SnapshotRange())
    assert snapshot.manifest.files == () and snapshot.tables["rate"].num_rows == 0
    assert snapshot.tables["rate"].schema == SCHEMAS["rate"]


async def test_overlapping_files_serve_each_offset_once(
    file_store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    # Two writers that cut one partition differently (only a forced flush can do that).
    events = {offset: watch_event(START_MS + offset) for offset in range(10)}

    def batch(offsets: range) -> Batch:
        return batch_of("watch", 0, START_MS // HOUR_MS, offsets, [to_row("watch", events[o]) for o in offsets])

    for offsets in (range(0, 6), range(4, 10), range(0, 3)):
        await file_store.put(batch(offsets).name.key, codec.encode(batch(offsets)))
    with caplog.at_level(logging.WARNING, logger="app.snapshots"):
        snapshot = await read_snapshot(file_store, SnapshotRange(topics=("watch",)))
    # 0-2 lies inside 0-5, which covers it (as a compacted file covers its inputs): not read.
    assert [(f.first_offset, f.last_offset) for f in snapshot.manifest.files] == [(0, 5), (4, 9)]
    assert snapshot.manifest.rows == 12
    assert snapshot.tables["watch"]["offset"].to_pylist() == list(range(10))
    assert "2 replayed rows dropped" in caplog.text


def test_encoding_is_deterministic_and_decoding_checks_the_name() -> None:
    rows = [to_row("watch", watch_event(START_MS + n)) for n in range(5)]
    batch = batch_of("watch", 2, START_MS // HOUR_MS, (10, 11, 12, 13, 15), rows)
    data = codec.encode(batch)
    assert codec.encode(batch) == data
    table = codec.decode(batch.name, data)
    assert table.column("partition") == pa.chunked_array([[2] * 5], pa.int32())
    with pytest.raises(CorruptSnapshot, match="footer says"):
        codec.decode(batch_of("watch", 3, batch.hour, batch.offsets, rows).name, data)


def row_path_encode(name: SnapshotName, offsets: list[int], rows: list[tuple[int, ...]]) -> bytes:
    """The encoding of the buffer that kept a tuple per event: Arrow columns from Python ints."""
    schema = schema_for(name.topic)
    types = [schema.field(column).type for column, _, _ in event_columns(name.topic)]
    columns = [pa.array(values, type=kind) for values, kind in zip(zip(*rows, strict=True), types, strict=True)]
    columns.append(pa.array([name.partition] * len(offsets), type=pa.int32()))
    columns.append(pa.array(offsets, type=pa.int64()))
    return codec.encode_table(name, pa.Table.from_arrays(columns, schema=schema))


@pytest.mark.parametrize("topic", ["watch", "rate"])
def test_the_columnar_buffer_writes_the_bytes_the_row_buffer_wrote(topic: str) -> None:
    # Files written before the change must equal a replay's, so a crash during an upgrade
    # rewrites the same bytes. Values at each column's extremes catch a too-narrow array.
    rng = random.Random(topic)
    events, offsets = [], []
    for n in range(2_500):
        event = {name: rng.choice([lowest, highest, -1, 0, rng.randint(lowest, highest)])
                 for name, lowest, highest in event_columns(topic)}
        events.append({**event, "ts": START_MS + n * 1_000})
        offsets.append(n * 2 + rng.randrange(2))  # gaps, as transaction markers leave them
    buffer = PartitionBuffer(topic, 6, max_events=1_000)
    batches = [b for offset, event in zip(offsets, events, strict=True) for b in buffer.add(offset, event)]
    batches += buffer.drain()
    assert [len(b.offsets) for b in batches] == [1_000, 1_000, 500]
    for n, batch in enumerate(batches):
        picked = slice(n * 1_000, (n + 1) * 1_000)
        rows = [to_row(topic, event) for event in events[picked]]
        assert codec.encode(batch) == row_path_encode(batch.name, offsets[picked], rows)


async def test_manifest_and_reader_agree_on_what_is_served(file_store: FileStore) -> None:
    await write_all(SnapshotSink(file_store, max_events=40), watch_stream(100), flush=True)
    garbage = "topic=watch/date=2024-03-05/hour=22/part-0-00000000000000900000-00000000000000900001.parquet"
    await file_store.put(garbage, b"garbage")
    manifest = await build_manifest(file_store, SnapshotRange(topics=("watch",)))
    snapshot = await read_snapshot(file_store, SnapshotRange(topics=("watch",)))
    assert snapshot.manifest == manifest and snapshot.tables["watch"].num_rows == manifest.rows == 100
