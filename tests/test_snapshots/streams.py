"""Synthetic event streams for snapshot tests: several hours, slightly out of order."""
from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.snapshots import Batch
from app.snapshots.naming import HOUR_MS
from app.snapshots.schema import empty_columns

START_MS = int(datetime(2024, 3, 5, 22, tzinfo=UTC).timestamp() * 1000)
"""22:00 UTC, so a stream of a few hours also crosses a date boundary."""

Message = tuple[int, int, dict[str, Any]]
"""(partition, offset, event value), as a consumer sees it."""


def watch_event(ts: int, user_id: int = 7, movie_id: int = 42, minute: int = 1) -> dict[str, Any]:
    return {"ts": ts, "user_id": user_id, "movie_id": movie_id, "minute": minute}


def rate_event(ts: int, user_id: int = 7, movie_id: int = 42, rating: int = 4) -> dict[str, Any]:
    return {"ts": ts, "user_id": user_id, "movie_id": movie_id, "rating": rating}


def batch_of(topic: str, partition: int, hour: int, offsets: Sequence[int],
             rows: Sequence[Sequence[int]]) -> Batch:
    """A batch of given rows (values in schema order), such as no buffer would cut."""
    columns = empty_columns(topic)
    for column, values in zip(columns, zip(*rows, strict=True), strict=True):
        column.extend(values)
    return Batch(topic, partition, hour, array("q", offsets), columns)


def watch_stream(count: int, *, partitions: int = 2, hours: float = 3.0, jitter_ms: int = 60_000,
                 seed: int = 1) -> list[Message]:
    """``count`` watch events over ``hours``, interleaved over partitions, event times jittered.

    Offsets per partition grow with gaps now and then (as compaction or transaction markers
    leave them), and a few events per partition arrive late across an hour boundary.
    """
    rng = random.Random(seed)
    next_offset = [0] * partitions
    messages = []
    for n in range(count):
        partition = rng.randrange(partitions)
        ts = START_MS + int(n * hours * HOUR_MS / count) - rng.randrange(jitter_ms)
        event = watch_event(ts, user_id=rng.randrange(1, 1000), movie_id=rng.randrange(1, 500),
                            minute=rng.randrange(120))
        messages.append((partition, next_offset[partition], event))
        next_offset[partition] += rng.choice([1, 1, 1, 2])
    return messages


async def write_all(sink: Any, messages: list[Message], *, topic: str = "watch", flush: bool = False) -> None:
    """Feed ``messages`` to a SnapshotSink as a consumer would; optionally flush at the end."""
    for partition, offset, event in messages:
        await sink.add(topic, partition, offset, event)
    if flush:
        for partition in sorted({partition for partition, _, _ in messages}):
            await sink.flush(topic, partition)
