"""Reading a topic on every worker: no consumer group, every partition, from a point in time.

Faust agents share a topic's partitions across the group; a worker that must see every
record (deployment decisions, the interactions behind trending popularity) reads with its
own group-less consumer instead.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.kafka_security import client_kwargs
from app.settings import Settings
from app.topic_reader import partitions_of

log = logging.getLogger(__name__)
Handler = Callable[[list[Any]], Awaitable[None]]


@dataclass
class CatchUp:
    """How far a follower's replay has read: caught up once at the end offsets taken when it started.

    Readiness waits for it, so what was produced before a worker says ready is never missed.
    """

    ends: dict[Any, int] = field(default_factory=dict)
    behind: int | None = None
    """Records left before the start's end offsets (None: not started yet)."""
    on_caught_up: Callable[[], Any] | None = None
    """Called once, when the replay first reaches those offsets (at once for an empty topic)."""

    @property
    def caught_up(self) -> bool:
        return self.behind == 0

    def start(self, ends: Mapping[Any, int]) -> None:
        self.ends = dict(ends)

    def advance(self, positions: Mapping[Any, int]) -> None:
        """Record the follower's next offsets per partition; once caught up it stays so."""
        if not self.caught_up:
            self.behind = sum(max(0, end - positions.get(tp, 0)) for tp, end in self.ends.items())
            if self.caught_up and self.on_caught_up is not None:
                self.on_caught_up()

    def as_dict(self) -> dict[str, Any]:
        return {"caught_up": self.caught_up, "behind": self.behind}


async def follow(settings: Settings, topic: str, handler: Handler, since_ms: int | None,
                 progress: CatchUp | None = None) -> None:
    """Hand every record of ``topic`` from ``since_ms`` on (None: only new ones) to ``handler``.

    ``progress`` learns the end offsets once the start position is set, then how far the
    handler has got towards them.
    """
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(settings, topic, wait=True)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps}) if since_ms is not None else {}
        for tp in tps:
            # The end offsets just read, not seek_to_end: that waits for the fetcher's next
            # offset reset, 3.5 s on this machine, and a starting worker's model waited on it.
            consumer.seek(tp, found[tp].offset if found.get(tp) is not None else ends[tp])
        if progress is not None:
            progress.start(ends)
        while True:
            if progress is not None and not progress.caught_up:
                progress.advance({tp: await consumer.position(tp) for tp in tps})
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                try:
                    await handler(records)
                except Exception:  # a bad record must not stop this worker from following
                    log.exception("handler for %s failed on %d records", topic, len(records))
    finally:
        await consumer.stop()
