"""The snapshot service's pump with a fake consumer: commits, resume, outages, rebalances, /health."""
from __future__ import annotations

import random
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from agents.ingest import RATE, WATCH
from agents.snapshot_sink import MeteredStore, SinkStatus, SnapshotPump
from app.codec import AvroCodec
from app.metrics import SNAPSHOT_EVENTS_SKIPPED
from app.snapshots import SnapshotName, SnapshotRange, SnapshotSink, read_snapshot
from app.snapshots.naming import HOUR_MS
from app.storage import Backoff, FileStore, StoreUnavailable

WATCH_CODEC, RATE_CODEC = AvroCodec("WatchEvent"), AvroCodec("RateEvent")
FAST = Backoff(attempts=2, base_s=0.001, max_s=0.001)
T0 = 1_709_676_000_000  # 2024-03-05 22:00 UTC
W0, W1, R0 = TopicPartition("p-watch", 0), TopicPartition("p-watch", 1), TopicPartition("p-rate", 0)
SOURCES = {"p-watch": WATCH, "p-rate": RATE}


class Record(NamedTuple):
    offset: int
    value: bytes | None


class FakeConsumer:
    """What the pump uses of AIOKafkaConsumer; getmany hands out the queued polls."""

    def __init__(self) -> None:
        self.polls: deque[dict[TopicPartition, list[Record]]] = deque()
        self.paused: set[TopicPartition] = set()
        self.seeks: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.committed_offsets: dict[TopicPartition, int] = {}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        return self.polls.popleft() if self.polls else {}

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.seeks[tp] = 0

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.committed_offsets.update(offsets)


class SwitchableStore(FileStore):
    """A file store that can be taken down: every call then finds it unavailable."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")

    async def put(self, key: str, data: bytes) -> None:
        self._check()
        await super().put(key, data)

    async def list(self, prefix: str = "") -> list:
        self._check()
        return await super().list(prefix)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def watch(offset: int, ts: int, user: int = 7) -> Record:
    event = {"ts": ts, "user_id": user, "movie_id": 42, "minute": offset % 60}
    return Record(offset, WATCH_CODEC.encode(event))


def rate(offset: int, ts: int, user: int = 7) -> Record:
    return Record(offset, RATE_CODEC.encode({"ts": ts, "user_id": user, "movie_id": 42, "rating": 4}))


def traffic(count: int, tp: TopicPartition, *, start: int = 0, hours: float = 2.0) -> list[Record]:
    make = watch if tp.topic == "p-watch" else rate
    return [make(start + n, T0 + int((start + n) * hours * HOUR_MS / count)) for n in range(count)]


def make_pump(store: Any, *, max_events: int = 10, max_buffered: int = 1_000,
              clock: Clock | None = None) -> tuple[SnapshotPump, FakeConsumer, SinkStatus]:
    consumer, status = FakeConsumer(), SinkStatus(enabled=True, running=True)
    sink = SnapshotSink(MeteredStore(store), max_events=max_events, late_grace_ms=0, backoff=FAST,
                        on_retry=status.store_retried)
    pump = SnapshotPump(consumer, sink, SOURCES, max_buffered=max_buffered, backoff=FAST,
                        status=status, clock=clock or Clock())
    return pump, consumer, status


async def run(pump: SnapshotPump, consumer: FakeConsumer, *polls: dict[TopicPartition, list[Record]]) -> None:
    consumer.polls.extend(polls)
    for _ in polls:
        await pump.step()


async def filed(store: FileStore) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every row in the snapshot, sorted."""
    snapshot = await read_snapshot(store, SnapshotRange())
    rows = []
    for topic, table in snapshot.tables.items():
        rows += [(topic, p, o) for p, o in zip(table["partition"].to_pylist(), table["offset"].to_pylist())]
    return sorted(rows)


def offsets(topic: str, partition: int, records: list[Record]) -> list[tuple[str, int, int]]:
    return [(topic, partition, r.offset) for r in records]


async def test_events_are_filed_and_committed_only_once_durable(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    pump, consumer, status = make_pump(store)
    await pump.assigned_now({W0, R0})
    # No files yet: Kafka's committed offset, else the beginning (both sought explicitly).
    assert consumer.seeks == {W0: 0, R0: 0} and consumer.paused == set()
    watches, rates = traffic(25, W0, hours=0.1), traffic(12, R0, hours=0.1)
    await run(pump, consumer, {W0: watches[:15], R0: rates}, {W0: watches[15:]})
    # Files of 10: watch 0-9 and 10-19, rate 0-9; the rest waits in open batches, uncommitted.
    assert consumer.committed_offsets == {W0: 20, R0: 10}
    assert await filed(store) == sorted(offsets("watch", 0, watches[:20]) + offsets("rate", 0, rates[:10]))
    assert status.buffered_events == 5 + 2 and status.store_available

    await pump.close(flush=True)
    assert consumer.committed_offsets == {W0: 25, R0: 12}
    assert await filed(store) == sorted(offsets("watch", 0, watches) + offsets("rate", 0, rates))
    assert status.buffered_events == 0


async def test_a_partition_without_files_starts_at_the_committed_offset(tmp_path: Path) -> None:
    pump, consumer, _ = make_pump(FileStore(tmp_path))
    consumer.committed_offsets = {W1: 7}
    await pump.assigned_now({W0, W1})
    assert consumer.seeks == {W0: 0, W1: 7}


async def test_a_partition_whose_committed_offset_cannot_be_read_waits_paused(tmp_path: Path) -> None:
    clock = Clock()
    pump, consumer, status = make_pump(FileStore(tmp_path), clock=clock)
    real_committed = consumer.committed

    async def broker_away(tp: TopicPartition) -> int | None:
        raise KafkaConnectionError("no coordinator")

    consumer.committed = broker_away
    consumer.committed_offsets = {W0: 3}
    await pump.assigned_now({W0})
    assert consumer.paused == {W0} and "no coordinator" in status.last_error
    await run(pump, consumer, {W0: traffic(5, W0, hours=0.01)})  # not open: skipped, read again later
    consumer.committed = real_committed
    clock.now += 1.0
    await run(pump, consumer, {})
    assert consumer.paused == set() and consumer.seeks == {W0: 3} and status.store_available


async def test_messages_that_are_not_valid_events_are_skipped_and_counted(tmp_path: Path) -> None:
    pump, consumer, _ = make_pump(FileStore(tmp_path))
    await pump.assigned_now({W0})
    before = SNAPSHOT_EVENTS_SKIPPED.labels("watch", "undecodable")._value.get()
    invalid_before = SNAPSHOT_EVENTS_SKIPPED.labels("watch", "invalid")._value.get()
    good = traffic(3, W0, hours=0.01)
    await run(pump, consumer, {W0: [good[0], Record(1, b"\x07junk"), Record(2, None),
                                    watch(3, ts=5), good[1]._replace(offset=4)]})
    await pump.close(flush=True)
    assert await filed(pump.sink.store.inner) == [("watch", 0, 0), ("watch", 0, 4)]
    assert SNAPSHOT_EVENTS_SKIPPED.labels("watch", "undecodable")._value.get() == before + 2
    assert SNAPSHOT_EVENTS_SKIPPED.labels("watch", "invalid")._value.get() == invalid_before + 1
    assert consumer.committed_offsets == {W0: 5}


async def test_a_restart_seeks_after_the_files_and_rewrites_nothing(tmp_path: Path) -> None:
    records = {W0: traffic(95, W0), W1: traffic(60, W1)}
    reference = FileStore(tmp_path / "reference")
    pump, consumer, _ = make_pump(reference)
    await pump.assigned_now({W0, W1})
    await run(pump, consumer, dict(records))
    await pump.close(flush=True)

    store = FileStore(tmp_path / "store")
    first, consumer, _ = make_pump(store)
    await first.assigned_now({W0, W1})
    await run(first, consumer, {W0: records[W0][:47], W1: records[W1][:33]})
    assert consumer.committed_offsets == {W0: 40, W1: 30}
    del first  # SIGKILL: the open batches are gone, nothing else happened

    second, consumer, _ = make_pump(store)
    consumer.committed_offsets = {W0: 30}  # a commit that was lost: the files decide, not Kafka
    await second.assigned_now({W0, W1})
    assert consumer.seeks == {W0: 40, W1: 30}
    # The broker redelivers from the seek point, and a few older ones the fetch had in flight.
    await run(second, consumer, {W0: records[W0][35:], W1: records[W1][30:]})
    await second.close(flush=True)

    def contents(root: FileStore) -> dict[str, bytes]:
        return {p.relative_to(root.root).as_posix(): p.read_bytes() for p in root.root.rglob("*.parquet")}

    assert contents(store) == contents(reference)
    assert await filed(store) == offsets("watch", 0, records[W0]) + offsets("watch", 1, records[W1])


async def test_store_outage_holds_events_pauses_at_the_bound_and_loses_nothing(tmp_path: Path) -> None:
    store, clock = SwitchableStore(tmp_path), Clock()
    pump, consumer, status = make_pump(store, max_events=10, max_buffered=30, clock=clock)
    await pump.assigned_now({W0, R0})
    watches, rates = traffic(100, W0, hours=0.2), traffic(40, R0, hours=0.2)
    await run(pump, consumer, {W0: watches[:15], R0: rates[:5]})
    assert consumer.committed_offsets == {W0: 10}

    store.down = True
    await run(pump, consumer, {W0: watches[15:25]})  # the cut at 19 cannot be stored
    assert not status.store_available and "connection refused" in status.last_error
    assert status.retries >= 1 and consumer.committed_offsets == {W0: 10}
    assert consumer.paused == set()  # 10 + 5 + 5 held: under the bound, still consuming
    await run(pump, consumer, {W0: watches[25:35], R0: rates[5:10]})
    assert status.buffered_events == 35 and status.paused and consumer.paused == {W0, R0}

    clock.now += 1.0
    await run(pump, consumer, {})  # retry is due, the store is still down: still paused
    assert consumer.paused == {W0, R0} and not status.store_available

    store.down = False
    clock.now += 1.0
    await run(pump, consumer, {})
    assert status.store_available and not status.paused and consumer.paused == set()
    assert consumer.committed_offsets == {W0: 30, R0: 10}
    await run(pump, consumer, {W0: watches[35:], R0: rates[10:]})
    await pump.close(flush=True)
    assert await filed(store) == sorted(offsets("watch", 0, watches) + offsets("rate", 0, rates))
    assert consumer.committed_offsets == {W0: 100, R0: 40}


async def test_an_assignment_while_the_store_is_down_waits_paused_then_resumes(tmp_path: Path) -> None:
    store, clock = SwitchableStore(tmp_path), Clock()
    records = traffic(30, W0, hours=0.1)
    pump, consumer, _ = make_pump(store, clock=clock)
    await pump.assigned_now({W0})
    await run(pump, consumer, {W0: records[:12]})
    del pump

    store.down = True
    pump, consumer, status = make_pump(store, clock=clock)
    consumer.committed_offsets = {W0: 10}
    await pump.assigned_now({W0})
    assert consumer.paused == {W0} and not status.store_available
    await run(pump, consumer, {W0: records[10:]})  # fetched before the pause: ignored, not lost
    store.down = False
    clock.now += 1.0
    await run(pump, consumer, {})
    assert consumer.paused == set() and consumer.seeks == {W0: 10} and status.store_available
    await run(pump, consumer, {W0: records[10:]})
    await pump.close(flush=True)
    assert await filed(store) == offsets("watch", 0, records)


async def test_revoke_commits_what_is_durable_and_forgets_the_rest(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    pump, consumer, _ = make_pump(store)
    await pump.assigned_now({W0, W1})
    await run(pump, consumer, {W0: traffic(14, W0, hours=0.1), W1: traffic(5, W1, hours=0.1)})
    consumer.commits.clear()
    await pump.revoked({W0, W1})
    await pump.assigned_now({W1})
    # W0 is no longer ours: left alone. W1's open batch was dropped and is delivered again.
    await run(pump, consumer, {W0: traffic(30, W0, hours=0.1)[14:], W1: traffic(5, W1, hours=0.1)})
    await pump.close(flush=True)
    names = [SnapshotName.parse(stored.key) for stored in await store.list("topic=")]
    assert sorted((n.partition, n.first_offset, n.last_offset) for n in names) == [(0, 0, 9), (1, 0, 4)]
    assert pump.sink.durable("watch", 0) is None and consumer.commits == [{W1: 5}]


async def test_a_root_holding_other_topics_files_is_refused(tmp_path: Path) -> None:
    """Another topic prefix's offsets would make partitions resume in the wrong place."""
    store = FileStore(tmp_path)
    pump, consumer, _ = make_pump(store)
    await pump.assigned_now({W0})
    await run(pump, consumer, {W0: traffic(12, W0, hours=0.1)})

    other, consumer, status = make_pump(store)
    other.sources = {"q-watch": WATCH, "q-rate": RATE}
    q0 = TopicPartition("q-watch", 0)
    await other.assigned_now({q0})
    assert consumer.paused == {q0} and consumer.seeks == {}
    assert not status.running and "RootInUse" in status.last_error and not status.healthy
    await run(other, consumer, {q0: traffic(12, W0, hours=0.1)})
    assert [s.key for s in await store.list("topic=")] == [
        SnapshotName("watch", T0 // HOUR_MS, 0, 0, 9).key]


async def test_rebalances_in_the_middle_never_lose_or_duplicate(tmp_path: Path) -> None:
    """Random polls, revokes and reassignments, replayed as a broker would: every offset once."""
    rng = random.Random(3)
    store = FileStore(tmp_path)
    records = {tp: traffic(400, tp, hours=3.0) for tp in (W0, W1, R0)}
    pump, consumer, _ = make_pump(store, max_events=23)
    position = {tp: 0 for tp in records}

    async def assign(tps: set[TopicPartition]) -> None:
        consumer.seeks.clear()
        await pump.assigned_now(tps)
        for tp in tps:
            position[tp] = consumer.seeks.get(tp, consumer.committed_offsets.get(tp, 0))

    await assign(set(records))
    while any(position[tp] < 400 for tp in pump.assigned) or pump.assigned != set(records):
        if rng.random() < 0.1:
            await pump.revoked(set(pump.assigned))
            await assign({tp for tp in records if rng.random() < 0.7} or {W0})
            continue
        poll = {}
        for tp in pump.assigned:
            take = rng.randint(0, 40)
            poll[tp] = records[tp][position[tp]:position[tp] + take]
            position[tp] += len(poll[tp])
        await run(pump, consumer, poll)
        if rng.random() < 0.05:
            await assign(set(records))  # a rebalance that keeps some partitions
    await pump.close(flush=True)
    assert await filed(store) == sorted(
        row for tp, rs in records.items() for row in offsets("watch" if tp.topic == "p-watch" else "rate",
                                                              tp.partition, rs))


async def test_health_is_503_unless_the_sink_runs_with_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import views

    async def reachable() -> tuple[bool, bool]:
        return True, True

    status = SinkStatus(enabled=True)
    # Just the checks of this issue; other modules add theirs (models, tables) to the dict.
    monkeypatch.setattr(views, "HEALTH_CHECKS", {"kafka": reachable, "snapshots": views.snapshot_health})
    monkeypatch.setattr(views, "SNAPSHOT_STATUS", status)
    code, body = await views.health_report()
    assert code == 503 and body["snapshots"]["running"] is False and body["kafka"] is True
    status.running = True
    code, body = await views.health_report()
    assert (code, body["status"]) == (200, "ok") and body["uptime_s"] >= 0
    status.store_available, status.last_error = False, "StoreUnavailable: down"
    code, body = await views.health_report()
    assert code == 503 and body["snapshots"]["last_error"] == "StoreUnavailable: down"
    assert await views.HEALTH_CHECKS["snapshots"]() == (False, body["snapshots"])
    status.enabled = False
    assert (await views.health_report())[0] == 200


@pytest.mark.kafka
@pytest.mark.timeout(60)
async def test_the_sink_of_a_static_worker_is_a_static_member_named_after_it(kafka_bootstrap: str) -> None:
    """A restarted worker's sink must take its old partitions back, not join as a stranger."""
    import uuid
    from types import SimpleNamespace

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from agents.snapshot_sink import build_consumer
    from app.settings import Settings

    run = uuid.uuid4().hex[:8]
    settings = Settings(kafka_bootstrap=kafka_bootstrap, app_id=f"sink-static-{run}")
    conf = SimpleNamespace(consumer_group_instance_id="w1", broker_session_timeout=10.0,
                           broker_heartbeat_interval=1.0, broker_rebalance_timeout=20.0)
    topic, admin = f"sink-static-{run}-watch", AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    consumer = build_consumer(settings, conf)
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        consumer.subscribe([topic])
        await consumer.start()
        await consumer.getmany(timeout_ms=5000)
        (group,) = await admin.describe_consumer_groups([f"{settings.app_id}-snapshots"])
        members = group.groups[0][-1]  # (error, group_id, state, protocol_type, protocol, members)
        # The broker names a static member "<group.instance.id>-<uuid>", a dynamic one "<client id>-<uuid>".
        assert [member[0].rsplit("-", 5)[0] for member in members] == ["w1-snapshots"]
        assert build_consumer(settings, SimpleNamespace(**{**vars(conf), "consumer_group_instance_id": None})
                              )._group_instance_id is None
    finally:
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()
