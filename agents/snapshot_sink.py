"""The snapshot sink: its own Kafka consumer that files every valid watch and rate event in Parquet.

It does not ride on Faust's consumer, which commits an offset once the agents are done with
the event, whether or not a file holds it yet. It is a separate aiokafka consumer in the
group ``<app_id>-snapshots``, started with the worker, reading the raw client topics
``watch`` and ``rate`` (every produced event is there exactly once; the ``*-rerouted``
copies of misplaced events are left alone). Offsets are committed by hand, and only up to
what ``SnapshotSink`` reports durable. The files are the truth about progress: on every
assignment each partition is sought to just after its last file, so a crash between a file
and its commit replays into the same file names.

When the store fails, events are held in memory, consumption goes on until
``snapshot_max_buffered_events`` are held, then pauses; writes are retried with backoff,
and the first success drains what was held, in order. Nothing is dropped.
"""
from __future__ import annotations

import asyncio
import builtins
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError
from mode import Service

from agents.ingest import RATE, WATCH, Source, read_event
from app import app
from app.exceptions import BadEvent
from app.kafka_security import client_kwargs
from app.metrics import (
    SNAPSHOT_BUFFERED_EVENTS,
    SNAPSHOT_BYTES_WRITTEN,
    SNAPSHOT_EVENTS_SKIPPED,
    SNAPSHOT_FILES_WRITTEN,
    SNAPSHOT_LAST_FILE_TIMESTAMP,
    SNAPSHOT_PAUSED,
    SNAPSHOT_ROWS_WRITTEN,
    SNAPSHOT_STORE_AVAILABLE,
    SNAPSHOT_STORE_ERRORS,
    SNAPSHOT_STORE_RETRIES,
)
from app.settings import Settings, get_settings
from app.snapshots import InvalidEvent, SnapshotSink
from app.snapshots.offsets import OffsetRuns
from app.storage import Backoff, KeyNotFound, Store, StoredObject, StoreError, retry
from app.storage.factory import open_store, store_backoff

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500
MAX_POLL_RECORDS = 2_000
"""Records handled per poll: a rebalance waits for the poll in hand, and a paused sink may
hold up to this many events beyond ``snapshot_max_buffered_events``."""
ROOT_CLAIM = "deployment.json"
"""Key at the snapshot root naming the Kafka topics whose offsets its file names hold."""
YIELD_EVERY = 250
"""Records handled between two yields to the event loop (about 2 ms of work)."""


@dataclass
class SinkStatus:
    """What /health and the metrics say about the sink; the service keeps it current."""

    enabled: bool
    running: bool = False
    store_available: bool = True
    buffered_events: int = 0
    paused: bool = False
    last_error: str | None = None
    retries: int = 0

    @property
    def healthy(self) -> bool:
        """Off, or running with a store that takes writes."""
        return not self.enabled or (self.running and self.store_available)

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "running": self.running,
                "store_available": self.store_available, "buffered_events": self.buffered_events,
                "paused": self.paused, "last_error": self.last_error, "retries": self.retries}

    def store_retried(self, *_: object) -> None:
        """``on_retry`` hook of the store calls."""
        self.retries += 1
        SNAPSHOT_STORE_RETRIES.inc()


class RootInUse(Exception):
    """The snapshot root holds the files of other topics; resuming from them would skip events."""


settings = get_settings()
STATUS = SinkStatus(enabled=settings.snapshot_enabled)
"""The status of this worker's sink, read by the /health view."""


class MeteredStore(Store):
    """A store that counts the files and bytes stored and the calls that failed."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url

    async def put(self, key: str, data: bytes) -> None:
        try:
            await self.inner.put(key, data)
        except StoreError:
            SNAPSHOT_STORE_ERRORS.labels("put").inc()
            raise
        folder = key.partition("/")[0]
        if folder.startswith("topic="):
            SNAPSHOT_FILES_WRITTEN.labels(folder.removeprefix("topic=")).inc()
            SNAPSHOT_BYTES_WRITTEN.labels(folder.removeprefix("topic=")).inc(len(data))
            SNAPSHOT_LAST_FILE_TIMESTAMP.labels(folder.removeprefix("topic=")).set_to_current_time()

    async def get(self, key: str) -> bytes:
        try:
            return await self.inner.get(key)
        except StoreError:
            SNAPSHOT_STORE_ERRORS.labels("get").inc()
            raise

    async def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        try:
            return await self.inner.list(prefix)
        except StoreError:
            SNAPSHOT_STORE_ERRORS.labels("list").inc()
            raise

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def close(self) -> None:
        await self.inner.close()


_FIELDS: dict[type, tuple[str, ...]] = {}


def as_event(parsed: Any) -> dict[str, int]:
    """A typed event (``app.events``) as the plain dict of ints the sink takes."""
    names = _FIELDS.get(type(parsed))
    if names is None:
        names = _FIELDS[type(parsed)] = tuple(f.name for f in fields(parsed))
    return {name: getattr(parsed, name) for name in names}


class SnapshotPump:
    """Moves records from a consumer into a ``SnapshotSink`` and commits what is durable.

    Everything that touches the sink or the consumer's positions runs under one lock, so
    a rebalance callback waits for the records in hand to be handled. ``consumer`` is an
    ``AIOKafkaConsumer`` (or a fake with the same methods); ``sources`` maps each full topic
    name to how its messages are read, the same way the ingest agent reads them.
    """

    def __init__(self, consumer: Any, sink: SnapshotSink, sources: Mapping[str, Source], *,
                 max_buffered: int, backoff: Backoff, status: SinkStatus,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer = consumer
        self.sink = sink
        self.sources = dict(sources)
        self.max_buffered = max_buffered
        self.backoff = backoff
        self.status = status
        self.clock = clock
        self.lock = asyncio.Lock()
        self.assigned: set[TopicPartition] = set()
        self.unopened: set[TopicPartition] = set()
        """Assigned, but the store could not be listed to find where to resume: paused."""
        self.unflushed: dict[TopicPartition, OffsetRuns] = {}
        """Offsets given to the sink and not yet in a file (counted for the rows metric and the pause)."""
        self.next_offset: dict[TopicPartition, int] = {}
        self.stuck: dict[TopicPartition, tuple[int, dict[str, int]]] = {}
        """Partitions with a batch waiting for the store: the last event given to the sink."""
        self.held: dict[TopicPartition, deque[tuple[int, dict[str, int]]]] = {}
        """Events consumed while the store is down, not yet given to the sink."""
        self.committed: dict[TopicPartition, int] = {}
        self.down = False
        self.attempt = 0
        self.retry_at = 0.0
        self.paused = False
        self.closed = False
        self.claimed = False
        self.refused = False
        """The root belongs to other topics: nothing is opened, /health says why."""

    # --- the consuming loop --------------------------------------------------------------

    async def step(self) -> None:
        """One poll: handle the records, retry the store if due, commit what became durable."""
        records = await self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_POLL_RECORDS)
        # Taking a free asyncio lock does not yield, so no rebalance slips in between.
        async with self.lock:
            if self.closed:
                return
            await self._handle(records)
            if (self.down or self.unopened) and not self.refused and self.clock() >= self.retry_at:
                await self._recover()
            await self._commit(self.assigned)
            self._apply_flow()

    async def _handle(self, records: Mapping[TopicPartition, Iterable[Any]]) -> None:
        now_ms = int(time.time() * 1000)
        skipped: dict[tuple[str, str], int] = {}
        handled = 0
        for tp, messages in records.items():
            if tp not in self.assigned or tp in self.unopened:
                continue  # read again from the resume point once the partition is opened
            source = self.sources[tp.topic]
            for message in messages:
                handled += 1
                if handled % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the agents and Faust's producer run between slices
                try:
                    event = as_event(read_event(source, message.value, now_ms))
                except BadEvent as err:  # the ingest agent dead-letters it; it is no event
                    skipped[source.name, err.category] = skipped.get((source.name, err.category), 0) + 1
                    continue
                if self.down:
                    self.held.setdefault(tp, deque()).append((message.offset, event))
                else:
                    await self._add(tp, message.offset, event)
        for (topic, reason), count in skipped.items():
            SNAPSHOT_EVENTS_SKIPPED.labels(topic, reason).inc(count)

    async def _add(self, tp: TopicPartition, offset: int, event: dict[str, int]) -> bool:
        """Give one event to the sink; False when the store failed (the event is buffered)."""
        topic = self.sources[tp.topic].name
        try:
            durable = await self.sink.add(topic, tp.partition, offset, event)
        except InvalidEvent as err:
            log.warning("snapshot sink left out %s[%d]@%d: %s", tp.topic, tp.partition, offset, err)
            SNAPSHOT_EVENTS_SKIPPED.labels(topic, "unfit").inc()
            return True
        except StoreError as err:
            self._track(tp, offset)
            self.stuck[tp] = (offset, event)
            self._store_failed(err)
            return False
        self._track(tp, offset)
        if durable is not None:
            self._made_durable(tp, durable)
        return True

    def _track(self, tp: TopicPartition, offset: int) -> None:
        # Mirrors the sink: an offset below the partition's next one is a redelivery it ignores.
        if offset >= self.next_offset.get(tp, 0):
            self.unflushed.setdefault(tp, OffsetRuns()).append(offset)
            self.next_offset[tp] = offset + 1

    def _made_durable(self, tp: TopicPartition, durable: int) -> None:
        waiting = self.unflushed.get(tp)
        rows = 0 if waiting is None else waiting.pop_through(durable)
        SNAPSHOT_ROWS_WRITTEN.labels(self.sources[tp.topic].name).inc(rows)
        self._store_answered()

    # --- store outages -------------------------------------------------------------------

    def _store_failed(self, err: BaseException) -> None:
        if not self.down:
            log.error("snapshot store failed, holding events and retrying: %s", err)
        self.down = True
        self._retry_later()
        self.status.store_available = False
        self.status.last_error = f"{type(err).__name__}: {err}"
        SNAPSHOT_STORE_AVAILABLE.set(0)

    def _retry_later(self) -> None:
        self.attempt += 1
        self.retry_at = self.clock() + self.backoff.delay(min(self.attempt, 32))

    def _store_answered(self) -> None:
        if self.down:
            return  # one write got through, but batches are still waiting: not yet
        self.attempt = 0
        self.status.store_available = True
        SNAPSHOT_STORE_AVAILABLE.set(1)

    async def _recover(self) -> None:
        """Try the store again: open waiting partitions, write waiting batches, drain held events."""
        self.status.store_retried()
        if self.unopened and not await self._open_or_hold(sorted(self.unopened)):
            return
        for tp, (offset, event) in list(self.stuck.items()):
            try:
                # A redelivered offset is ignored by the buffer, so this only writes the waiting batches.
                durable = await self.sink.add(self.sources[tp.topic].name, tp.partition, offset, event)
            except StoreError as err:
                self._store_failed(err)
                return
            del self.stuck[tp]
            if durable is not None:
                self._made_durable(tp, durable)
        self.down = False
        for tp in list(self.held):
            waiting = self.held[tp]
            while waiting:
                offset, event = waiting.popleft()
                if not await self._add(tp, offset, event):
                    break
            if self.down:
                return  # what is still held stays held, in order, for the next attempt
            del self.held[tp]
        log.info("snapshot store is back; held events are in the sink")
        self._store_answered()

    def _apply_flow(self) -> None:
        buffered = sum(map(len, self.unflushed.values())) + sum(map(len, self.held.values()))
        should_pause = self.down and buffered >= self.max_buffered
        if should_pause and not self.paused:
            log.warning("snapshot store down and %d events held: pausing consumption", buffered)
            self.consumer.pause(*self.assigned)
        elif self.paused and not should_pause:
            log.info("snapshot store writes again: resuming consumption")
            self.consumer.resume(*(self.assigned - self.unopened))
        self.paused = should_pause
        self.status.buffered_events = buffered
        self.status.paused = should_pause
        SNAPSHOT_BUFFERED_EVENTS.set(buffered)
        SNAPSHOT_PAUSED.set(int(should_pause))

    # --- offsets -------------------------------------------------------------------------

    async def _commit(self, tps: Iterable[TopicPartition]) -> None:
        """Commit ``durable + 1`` where it moved; a failed commit only means a longer replay."""
        offsets = {}
        for tp in tps:
            durable = self.sink.durable(self.sources[tp.topic].name, tp.partition)
            if durable is not None and durable + 1 > self.committed.get(tp, -1):
                offsets[tp] = durable + 1
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as err:
            log.warning("snapshot offsets not committed (the files still say where to resume): %r", err)
            return
        self.committed.update(offsets)

    # --- rebalances ----------------------------------------------------------------------

    async def revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Commit what is durable, then forget the partitions; the next owner replays from the files."""
        async with self.lock:
            revoked = set(revoked) & self.assigned
            await self._commit(revoked)
            self._forget(revoked)
            self._apply_flow()

    async def assigned_now(self, assigned: Iterable[TopicPartition]) -> None:
        """Open the new partitions from the files and seek each to just after its last file."""
        assigned = set(assigned)
        async with self.lock:
            self._forget(self.assigned - assigned)
            self.paused = False  # aiokafka starts a new assignment unpaused
            new = sorted(assigned - self.assigned)
            self.assigned = assigned
            await self._open_or_hold(new)
            self._apply_flow()

    async def reopen(self) -> None:
        """Start every partition over from its files, as after a rebalance.

        After an unexpected error the records in hand may be half handled; a buffer that
        missed some would file a gap, so the partitions are opened and sought afresh.
        """
        async with self.lock:
            tps = sorted(self.assigned)
            self._forget(self.assigned)
            self.assigned = set(tps)
            await self._open_or_hold(tps)
            self._apply_flow()

    def _forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in list(tps):
            self.sink.revoke(self.sources[tp.topic].name, [tp.partition])
            for state in (self.unflushed, self.next_offset, self.stuck, self.held, self.committed):
                state.pop(tp, None)
            self.assigned.discard(tp)
            self.unopened.discard(tp)

    async def _open_or_hold(self, tps: list[TopicPartition]) -> bool:
        """Open ``tps``; False when the store or Kafka failed and some wait, paused, for a retry."""
        try:
            await self._open(tps)
        except StoreError as err:
            self._store_failed(err)
            return False
        except KafkaError as err:  # the committed offsets could not be read
            log.warning("snapshot partitions not opened yet, retrying: %r", err)
            self.status.last_error = f"{type(err).__name__}: {err}"
            self._retry_later()
            return False
        except RootInUse as err:
            log.error("snapshot sink stopped: %s", err)
            self.refused = True
            self.status.running = False
            self.status.last_error = f"{type(err).__name__}: {err}"
            return False
        return True

    async def _claim_root(self) -> None:
        """Make sure the root's files are of our topics, writing the claim on first use.

        File names hold Kafka offsets, and the files decide where a partition resumes: files
        of other topics (another topic prefix sharing the root) would make it skip events.
        """
        if self.claimed:
            return
        store = self.sink.store
        ours = json.dumps({"topics": sorted(self.sources)}, sort_keys=True).encode()
        try:
            found = await retry(partial(store.get, ROOT_CLAIM), backoff=self.backoff,
                                on_retry=self.status.store_retried)
        except KeyNotFound:
            await retry(partial(store.put, ROOT_CLAIM, ours), backoff=self.backoff,
                        on_retry=self.status.store_retried)
            found = ours
        if found != ours:
            raise RootInUse(f"{store.url} holds snapshots of {found.decode(errors='replace')}, not of "
                            f"{ours.decode()}; give each deployment its own MOVIE_RECS_SNAPSHOTS")
        self.claimed = True

    async def _open(self, tps: list[TopicPartition]) -> None:
        """Open ``tps`` in the sink and seek each; any left unopened (the store failed) stay paused.

        A partition with files resumes right after the last one. One without files resumes
        at Kafka's committed offset, sought explicitly too: records of it fetched and skipped
        while it was not open must be read again.
        """
        self.unopened.update(tps)
        self.consumer.pause(*tps)
        if self.refused:
            return
        await self._claim_root()
        by_topic: dict[str, list[TopicPartition]] = {}
        for tp in tps:
            by_topic.setdefault(tp.topic, []).append(tp)
        for topic, group in sorted(by_topic.items()):
            starts = await self.sink.assign(self.sources[topic].name, [tp.partition for tp in group])
            for tp in group:
                start = starts[tp.partition]
                if start is None:
                    start = await self.consumer.committed(tp)
                if start is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, start)
                self.next_offset[tp] = starts[tp.partition] or 0
                self.unflushed[tp] = OffsetRuns()
                self.unopened.discard(tp)
                if not self.paused:
                    self.consumer.resume(tp)
            log.info("snapshots of %s resume after their files at %s (None: at the committed offset)",
                     topic, starts)

    # --- stopping ------------------------------------------------------------------------

    async def close(self, *, flush: bool) -> None:
        """Write the open batches (when asked and the store is up) and commit them; then stop."""
        async with self.lock:
            self.closed = True
            if flush and not self.down:
                for tp in sorted(self.assigned - self.unopened):
                    try:
                        durable = await self.sink.flush(self.sources[tp.topic].name, tp.partition)
                    except StoreError as err:
                        log.warning("open snapshot batches not written on stop (they replay): %s", err)
                        break
                    if durable is not None:
                        self._made_durable(tp, durable)
            await self._commit(self.assigned)
            self._apply_flow()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, pump: SnapshotPump) -> None:
        self.pump = pump

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.pump.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.pump.assigned_now(assigned)


def build_consumer(settings: Settings, conf: Any) -> AIOKafkaConsumer:
    """The sink's consumer: its own group, no auto-commit, from the start when nothing is committed.

    Group timeouts are Faust's (``conf`` is ``app.conf``), so one set of knobs, e.g. the
    ``BROKER_SESSION_TIMEOUT`` variable, governs how fast both groups notice a dead worker.
    A static worker is a static member here too (``<instance id>-snapshots``): as a dynamic
    member a restarted worker joined as a stranger, so the group rebalanced once for it and
    again when the dead member's session ran out, and its sink waited 10-40 s for its partitions.
    """
    instance_id = conf.consumer_group_instance_id
    return AIOKafkaConsumer(
        **client_kwargs(settings),
        group_id=f"{settings.app_id}-snapshots",
        group_instance_id=f"{instance_id}-snapshots" if instance_id else None,
        client_id=f"{settings.app_id}-snapshots",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(conf.broker_session_timeout * 1000),
        heartbeat_interval_ms=int(conf.broker_heartbeat_interval * 1000),
        rebalance_timeout_ms=int(conf.broker_rebalance_timeout * 1000),
    )


class SnapshotService(Service):
    """Runs the snapshot consumer inside the worker; started after table recovery, stopped first."""

    def __init__(self, *args: Any, settings: Settings | None = None, store: Store | None = None,
                 consumer: Any = None, status: SinkStatus | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings or get_settings()
        self.status = status or STATUS
        self.store = MeteredStore(store or open_store(self.settings.snapshots, self.settings))
        self.consumer = consumer or build_consumer(self.settings, app.conf)
        backoff = store_backoff(self.settings)
        sink = SnapshotSink(self.store, max_events=self.settings.snapshot_max_events,
                            late_grace_ms=self.settings.snapshot_late_grace_ms,
                            backoff=backoff, on_retry=self.status.store_retried)
        sources = {self.settings.topic(source.name): source for source in (WATCH, RATE)}
        self.pump = SnapshotPump(self.consumer, sink, sources,
                                 max_buffered=self.settings.snapshot_max_buffered_events,
                                 backoff=backoff, status=self.status)

    async def on_start(self) -> None:
        self.consumer.subscribe(topics=sorted(self.pump.sources), listener=_Listener(self.pump))
        await self.consumer.start()
        SNAPSHOT_STORE_AVAILABLE.set(1)
        self.status.running = True
        log.info("snapshot sink writing %s to %s", sorted(self.pump.sources), self.store.url)

    @Service.task
    async def _consume(self) -> None:
        while not self.should_stop:
            try:
                await self.pump.step()
            except ConsumerStoppedError:
                break
            except asyncio.CancelledError:
                raise
            except Exception as err:  # keep the worker alive; /health shows it
                log.exception("snapshot sink step failed; reopening its partitions from the files")
                self.status.last_error = f"{type(err).__name__}: {err}"
                await self.sleep(1.0)
                try:
                    await self.pump.reopen()
                except Exception:  # next step fails again and says why
                    log.exception("reopening the snapshot partitions failed")

    async def on_stop(self) -> None:
        self.status.running = False
        try:
            await self.pump.close(flush=self.settings.snapshot_flush_on_stop)
        finally:
            await self.consumer.stop()
            await self.store.close()


if settings.snapshot_enabled:
    app.service(SnapshotService)
