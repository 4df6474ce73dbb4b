"""Compaction: which files merge, what readers see at every step, and a crash between put and delete."""
from __future__ import annotations

import pytest

from app.snapshots import SnapshotName, SnapshotRange, codec, read_snapshot
from app.snapshots.compaction import Policy, compact, merged_name, plan
from app.snapshots.naming import HOUR_MS
from app.snapshots.writer import PartitionBuffer
from app.storage import FileStore

START_HOUR = 1_704_067_200_000 // HOUR_MS  # 2024-01-01T00


def name(first: int, last: int, hour: int = START_HOUR, partition: int = 0, hours: int = 1) -> SnapshotName:
    return SnapshotName("watch", hour, partition, first, last, hours)


def test_names_with_a_span_round_trip_and_cover_their_inputs() -> None:
    wide = name(0, 99, hours=30)
    assert wide.key.endswith("part-0-00000000000000000000-00000000000000000099-30h.parquet")
    assert SnapshotName.parse(wide.key) == wide and SnapshotName.parse(name(0, 9).key).hours == 1
    assert wide.covers(name(10, 20, hour=START_HOUR + 5)) and not wide.covers(wide)
    assert not wide.covers(name(90, 100)) and not wide.covers(name(10, 20, partition=1))
    assert SnapshotRange(since=wide.start.replace(hour=20)).covers(wide)


def test_plan_merges_closed_consecutive_runs_within_the_limits() -> None:
    files = [(name(0, 9, START_HOUR), 10), (name(10, 19, START_HOUR + 1), 10), (name(20, 29, START_HOUR + 2), 10),
             (name(30, 39, START_HOUR + 3), 10), (name(40, 49, START_HOUR + 9), 10),
             (name(0, 5, START_HOUR, partition=1), 10), (name(6, 7, START_HOUR + 1, partition=1), 10),
             (name(0, 3, START_HOUR), 10)]  # covered by 0-9: garbage of an earlier crash
    runs, covered = plan(files, Policy(closed_before_hour=START_HOUR + 4, target_bytes=30, max_hours=24))
    runs = sorted(runs, key=lambda run: run[0].partition)  # partitions are planned in no set order
    # 40-49 is not closed; 30 bytes stop the first run at three files; 30-39 alone does not merge.
    assert [[(n.first_offset, n.last_offset) for n in run] for run in runs] == [
        [(0, 9), (10, 19), (20, 29)], [(0, 5), (6, 7)]]
    assert covered == [name(0, 3, START_HOUR)]
    assert merged_name(runs[0]) == name(0, 29, START_HOUR, hours=3)
    assert min(plan(files, Policy(START_HOUR + 4, target_bytes=10**6, max_hours=2))[0], key=lambda run: run[0].partition) == [name(0, 9), name(10, 19, START_HOUR + 1)]


async def write_hours(store: FileStore, hours: int, per_hour: int, partitions: int = 2) -> int:
    """Files as the sink writes them: one per partition and hour."""
    count = 0
    for partition in range(partitions):
        buffer = PartitionBuffer("watch", partition, max_events=10**6, late_grace_ms=0)
        batches = []
        for n in range(hours * per_hour):
            ts = START_HOUR * HOUR_MS + n * HOUR_MS // per_hour
            batches += buffer.add(n, {"ts": ts, "user_id": 1 + n % 7, "movie_id": 1 + n % 50, "minute": n % 3})
        batches += buffer.drain()
        for batch in batches:
            await store.put(batch.name.key, codec.encode(batch))
            count += len(batch.offsets)
    return count


def offsets(snapshot) -> list[tuple[int, int]]:
    table = snapshot.tables["watch"]
    return sorted(zip(table["partition"].to_pylist(), table["offset"].to_pylist()))


async def test_compaction_keeps_every_event_once_even_after_a_crash_before_the_deletes(tmp_path) -> None:
    store = FileStore(tmp_path)
    events = await write_hours(store, hours=48, per_hour=5)
    before = await read_snapshot(store, SnapshotRange(topics=("watch",)))
    assert len(before.manifest.files) == 96 and before.manifest.rows == events

    class CrashOnDelete(FileStore):
        async def delete(self, key: str) -> None:
            raise KeyboardInterrupt  # the process dies right after the merged file's put

    with pytest.raises(KeyboardInterrupt):
        await compact(CrashOnDelete(tmp_path), "watch", Policy(START_HOUR + 100))
    crashed = await read_snapshot(store, SnapshotRange(topics=("watch",)))
    assert offsets(crashed) == offsets(before)  # the merged file covers its inputs: none read twice
    assert len(crashed.manifest.files) == 2 - 1 + 48  # partition 0 merged, partition 1 not yet

    report = await compact(store, "watch", Policy(START_HOUR + 100))
    assert (report.files_before, report.files_after) == (97, 2)
    after = await read_snapshot(store, SnapshotRange(topics=("watch",)))
    assert offsets(after) == offsets(before) and len(after.manifest.files) == 2
    assert after.frame("watch").sort_values(["partition", "offset"]).reset_index(drop=True).equals(
        before.frame("watch").sort_values(["partition", "offset"]).reset_index(drop=True))
    hour_10 = SnapshotRange(topics=("watch",), since=name(0, 0, START_HOUR + 10).start,
                            until=name(0, 0, START_HOUR + 11).start)
    assert (await read_snapshot(store, hour_10)).manifest.rows == events  # a span is read whole

    assert (await compact(store, "watch", Policy(START_HOUR + 100))).merged == []  # nothing left to do


async def test_open_hours_are_left_to_the_sink(tmp_path) -> None:
    store = FileStore(tmp_path)
    await write_hours(store, hours=6, per_hour=2, partitions=1)
    report = await compact(store, "watch", Policy(closed_before_hour=START_HOUR + 3))
    assert (report.files_before, report.files_after) == (6, 4)
    assert report.merged == [name(0, 5, START_HOUR, hours=3).key]
