"""Consumer lag read from the broker: log end offset minus committed offset, per partition.

The worker measures it itself (no vendor console, no exporter to deploy) for its own group
and the snapshot sink's. A reading that fails, because the broker is away or slow, keeps the
last known numbers and raises the group's staleness flag, so a dashboard never shows a false
zero and an alert can tell "no lag" from "no reading".
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.kafka_security import client_kwargs
from app.metrics import CONSUMER_LAG, CONSUMER_LAG_STALE
from app.settings import Settings

log = logging.getLogger(__name__)


def lag_by_partition(ends: Mapping[TopicPartition, int],
                     committed: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Lag of every committed partition whose end offset is known (never negative).

    A partition with a commit but no end offset (deleted meanwhile) is left out rather than
    guessed; an end offset below the commit (the log truncated) counts as caught up.
    """
    return {tp: max(ends[tp] - offset, 0) for tp, offset in committed.items() if tp in ends}


class OffsetSource(Protocol):
    """Where offsets come from: the broker in production, a fake in unit tests."""

    async def committed(self, group: str) -> dict[TopicPartition, int]: ...

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]: ...

    async def close(self) -> None: ...


class BrokerOffsets:
    """Committed offsets through an admin client, end offsets through a group-less consumer.

    Both are opened lazily and dropped after a failure, so a broker that comes back is met
    with fresh connections instead of clients stuck on the old ones.
    """

    def __init__(self, settings: Settings) -> None:
        self.kwargs = {**client_kwargs(settings), "request_timeout_ms": int(settings.lag_timeout_s * 1000)}
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self.admin is None or self.consumer is None:
            admin = AIOKafkaAdminClient(**self.kwargs)
            consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **self.kwargs)
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                await admin.close()
                await consumer.stop()
                raise
            self.admin, self.consumer = admin, consumer
        return self.admin, self.consumer

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        admin, _ = await self._clients()
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        _, consumer = await self._clients()
        return await consumer.end_offsets(tps) if tps else {}

    async def close(self) -> None:
        admin, consumer, self.admin, self.consumer = self.admin, self.consumer, None, None
        if admin is not None:
            await admin.close()
        if consumer is not None:
            await consumer.stop()


@dataclass
class GroupLag:
    """The last good reading of one group, and whether the latest attempt failed."""

    partitions: dict[TopicPartition, int] = field(default_factory=dict)
    read_at: float | None = None
    stale: bool = True
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.partitions.values())

    def as_dict(self) -> dict[str, Any]:
        """What /health shows: totals per topic, the reading's age and the staleness flag."""
        by_topic: dict[str, int] = {}
        for tp, lag in self.partitions.items():
            by_topic[tp.topic] = by_topic.get(tp.topic, 0) + lag
        age = None if self.read_at is None else round(time.time() - self.read_at, 1)
        return {"total": self.total, "by_topic": by_topic, "stale": self.stale, "age_s": age, "error": self.error}


class LagMonitor:
    """Reads the lag of ``groups`` on demand, keeps the last good reading, and sets the gauges."""

    def __init__(self, source: OffsetSource, groups: list[str], timeout_s: float) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.groups = {group: GroupLag() for group in groups}
        for group in groups:  # no reading yet is not "no lag"
            CONSUMER_LAG_STALE.labels(group).set(1)

    async def read_group(self, group: str) -> dict[TopicPartition, int]:
        committed = await self.source.committed(group)
        ends = await self.source.end_offsets(sorted(committed))
        return lag_by_partition(ends, committed)

    async def refresh(self) -> None:
        """One reading of every group; a failure keeps the group's last numbers, marked stale."""
        for group, state in self.groups.items():
            try:
                lags = await asyncio.wait_for(self.read_group(group), self.timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker away, slow, or refusing: say so, keep serving
                state.stale, state.error = True, f"{type(exc).__name__}: {exc}"
                CONSUMER_LAG_STALE.labels(group).set(1)
                log.warning("lag of group %s not read (%s); keeping the last value", group, state.error)
                await self.source.close()
                continue
            for tp in state.partitions.keys() - lags.keys():  # no longer committed: not ours to show
                CONSUMER_LAG.remove(group, tp.topic, str(tp.partition))
            for tp, lag in lags.items():
                CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(lag)
            state.partitions, state.read_at, state.stale, state.error = lags, time.time(), False, None
            CONSUMER_LAG_STALE.labels(group).set(0)

    def as_dict(self) -> dict[str, Any]:
        return {group: state.as_dict() for group, state in self.groups.items()}
