"""Turn ready batches into Parquet files in a store and report which offsets are durable."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from app.snapshots import codec
from app.snapshots.resume import resume_offsets
from app.snapshots.writer import DEFAULT_LATE_GRACE_MS, Batch, PartitionBuffer
from app.storage import DEFAULT_BACKOFF, Backoff, OnRetry, Store, retry

log = logging.getLogger(__name__)
T = TypeVar("T")
TopicPartition = tuple[str, int]


@dataclass
class _Partition:
    buffer: PartitionBuffer
    durable: int | None
    pending: deque[Batch] = field(default_factory=deque)
    """Batches cut but not yet stored; written in order, before anything newer."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SnapshotSink:
    """Buffers events per (topic, partition) and stores each ready batch as one Parquet file.

    ``add`` returns the partition's highest offset that is now in a file; commit
    ``that + 1`` to Kafka only then. A partition's files are written one at a time, in
    offset order, so the files always cover a prefix of the partition and a resumed
    consumer can start right after the last one. Encoding runs in a worker thread; a store
    failure that outlasts the retries propagates, and the batch waits to be written first
    on the next call, so nothing is skipped.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_events: int = 100_000,
        late_grace_ms: int = DEFAULT_LATE_GRACE_MS,
        backoff: Backoff = DEFAULT_BACKOFF,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.store = store
        self.max_events = max_events
        self.late_grace_ms = late_grace_ms
        self._backoff = backoff
        self._on_retry = on_retry
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._opening = asyncio.Lock()

    async def assign(self, topic: str, partitions: Iterable[int]) -> dict[int, int | None]:
        """Open partitions from the files already written; returns where to seek each one.

        None means the partition has no files yet: start from Kafka's committed offset.
        Call it on assignment; a partition first seen by ``add`` is opened the same way.
        """
        partitions = list(partitions)
        following = await self._retry(partial(resume_offsets, self.store, topic))
        for partition in partitions:
            start = following.get(partition)
            buffer = PartitionBuffer(
                topic, partition, max_events=self.max_events, late_grace_ms=self.late_grace_ms,
                next_offset=start or 0,
            )
            self._partitions[topic, partition] = _Partition(buffer, None if start is None else start - 1)
        return {partition: following.get(partition) for partition in partitions}

    def revoke(self, topic: str, partitions: Iterable[int]) -> None:
        """Forget partitions' open batches; their next owner replays them from the files on."""
        for partition in partitions:
            self._partitions.pop((topic, partition), None)

    def durable(self, topic: str, partition: int) -> int | None:
        """The highest offset of the partition known to be in a file, if any."""
        state = self._partitions.get((topic, partition))
        return None if state is None else state.durable

    async def add(self, topic: str, partition: int, offset: int, event: Mapping[str, Any]) -> int | None:
        """Buffer one event, store what became ready; the new durable offset if it moved.

        Raises ``InvalidEvent`` (dead-letter the event) or ``StoreUnavailable`` once the
        retries are spent (the event is buffered; do not commit, call again later).
        """
        state = await self._state(topic, partition)
        async with state.lock:
            state.pending.extend(state.buffer.add(offset, event))
            return await self._write_pending(state)

    async def flush(self, topic: str, partition: int) -> int | None:
        """Store the open batch now; see ``PartitionBuffer.drain`` for when that is safe."""
        state = await self._state(topic, partition)
        async with state.lock:
            state.pending.extend(state.buffer.drain())
            return await self._write_pending(state)

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        return await retry(call, backoff=self._backoff, on_retry=self._on_retry)

    async def _state(self, topic: str, partition: int) -> _Partition:
        async with self._opening:
            if (topic, partition) not in self._partitions:
                await self.assign(topic, [partition])
        return self._partitions[topic, partition]

    async def _write_pending(self, state: _Partition) -> int | None:
        moved = None
        while state.pending:
            batch = state.pending[0]
            data = await asyncio.to_thread(codec.encode, batch)
            key = batch.name.key
            await self._retry(partial(self.store.put, key, data))
            state.pending.popleft()
            moved = state.durable = batch.offsets[-1]
            log.debug("stored %s (%d events)", key, len(batch.offsets))
        return moved
