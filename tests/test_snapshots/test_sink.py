"""The async sink: durable offsets, exactly-once files across crashes, and no loop blocking."""
from __future__ import annotations

import threading
from itertools import pairwise
from pathlib import Path

import pytest

import app.storage.file as file_module
from app.snapshots import (
    SnapshotName,
    SnapshotRange,
    SnapshotSink,
    codec,
    read_snapshot,
    resume_offset,
    resume_offsets,
)
from app.storage import Backoff, FileStore, Store, StoreUnavailable
from tests.test_snapshots.streams import watch_stream, write_all

FAST = Backoff(attempts=2, base_s=0.001, max_s=0.001)


async def contents(store: Store) -> dict[str, bytes]:
    return {stored.key: await store.get(stored.key) for stored in await store.list()}


async def test_add_reports_durable_offsets_that_match_the_files(file_store: FileStore) -> None:
    sink = SnapshotSink(file_store, max_events=50)
    reported: dict[int, int] = {}
    for partition, offset, event in watch_stream(500, partitions=2):
        durable = await sink.add("watch", partition, offset, event)
        if durable is not None:
            assert durable < offset + 1 and durable > reported.get(partition, -1)
            reported[partition] = durable
    following = await resume_offsets(file_store, "watch")
    assert {p: d + 1 for p, d in reported.items()} == following
    assert await resume_offset(file_store, "watch", 1) == following[1]
    assert await resume_offset(file_store, "watch", 9) is None
    assert await resume_offset(file_store, "rate", 0) is None
    assert {p: sink.durable("watch", p) for p in (0, 1)} == reported


@pytest.mark.parametrize("replay_from", ["zero", "resume"])
async def test_crash_and_replay_rewrite_nothing_and_lose_nothing(
    store: Store, tmp_path: Path, replay_from: str
) -> None:
    messages = watch_stream(2_000, partitions=2, jitter_ms=600_000)  # stragglers past the grace
    reference = FileStore(tmp_path / "reference")
    await write_all(SnapshotSink(reference, max_events=100), messages)

    await write_all(SnapshotSink(store, max_events=100), messages[:1_200])  # then the worker dies
    restarted = SnapshotSink(store, max_events=100)
    seek = await restarted.assign("watch", [0, 1])
    assert seek == await resume_offsets(store, "watch")
    start = {p: 0 if replay_from == "zero" else offset for p, offset in seek.items()}  # "zero": commit lost
    await write_all(restarted, [m for m in messages if m[1] >= start[m[0]]])

    assert await contents(store) == await contents(reference)


async def test_restart_with_another_size_limit_still_covers_each_offset_once(file_store: FileStore) -> None:
    messages = watch_stream(1_500, partitions=2)
    await write_all(SnapshotSink(file_store, max_events=100), messages[:900])
    await write_all(SnapshotSink(file_store, max_events=37), messages, flush=True)

    names = sorted((SnapshotName.parse(s.key) for s in await file_store.list()),
                   key=lambda n: (n.partition, n.first_offset))
    for before, after in pairwise(names):
        assert before.partition != after.partition or before.last_offset < after.first_offset
    table = (await read_snapshot(file_store, SnapshotRange(topics=("watch",)))).tables["watch"]
    served = zip(table["partition"].to_pylist(), table["offset"].to_pylist(), strict=True)
    assert sorted(served) == sorted((p, o) for p, o, _ in messages)


class FailingPuts(FileStore):
    """A file store whose first ``failures`` puts find the store unavailable."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    async def put(self, key: str, data: bytes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("store is down")
        await super().put(key, data)


async def test_a_batch_that_could_not_be_stored_is_stored_first_next_time(tmp_path: Path) -> None:
    store = FailingPuts(tmp_path, failures=3)
    retries = []
    sink = SnapshotSink(store, max_events=10, backoff=FAST, on_retry=lambda *args: retries.append(args[0]))
    messages = watch_stream(25, partitions=1, hours=0.1, jitter_ms=1)  # all in one hour
    await write_all(sink, messages[:9])
    with pytest.raises(StoreUnavailable):
        await sink.add("watch", 0, *messages[9][1:])  # the 10th event cuts a batch; two attempts fail
    assert sink.durable("watch", 0) is None and retries == [1]
    durable = await sink.add("watch", 0, *messages[10][1:])  # third put fails, the retry lands it
    assert durable == messages[9][1]
    await write_all(sink, messages[11:], flush=True)
    names = [SnapshotName.parse(s.key) for s in await store.list()]
    offsets = [offset for _, offset, _ in messages]
    assert [(n.first_offset, n.last_offset) for n in names] == [
        (offsets[0], offsets[9]), (offsets[10], offsets[19]), (offsets[20], offsets[24])
    ]


async def test_encoding_file_io_and_decoding_run_off_the_event_loop(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: dict[str, int] = {}

    def spy(module: object, name: str) -> None:
        real = getattr(module, name)

        def recorded(*args: object) -> object:
            threads[name] = threading.get_ident()
            return real(*args)

        monkeypatch.setattr(module, name, recorded)

    for module, name in [(codec, "encode"), (codec, "decode"), (file_module, "_write_atomically")]:
        spy(module, name)
    await write_all(SnapshotSink(file_store, max_events=10), watch_stream(10, partitions=1))
    await read_snapshot(file_store, SnapshotRange(topics=("watch",)))
    assert set(threads) == {"encode", "decode", "_write_atomically"}
    assert threading.get_ident() not in threads.values()
