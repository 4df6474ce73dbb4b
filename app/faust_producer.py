"""The Kafka producer of our Faust app: Faust's aiokafka producer, declaring only topics the cluster lacks.

A worker declares every topic it uses at start, before it joins its group: each agent's
channels, each table's changelog, the leader topic, some names several times over (some 60
declarations here). Faust skips a topic only when its producer's metadata already lists it,
and a producer that has just started knows none, so each declaration was a metadata request
and a CreateTopics request, one after the other: 3.4-5.7 s of a restart on a quiet machine
(``bench.failover``), pushing its join towards the session timeout. Here the first
declaration reads the cluster's topic list once (a metadata request naming no topic, which
creates none), and names on it are skipped, as Faust skips a name its metadata knows.
"""
from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers import aiokafka


class Producer(aiokafka.Producer):
    """Faust's producer; ``create_topic`` does nothing for a topic the cluster has."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._existing: set[str] | None = None
        self._listing = asyncio.Lock()

    async def create_topic(self, topic: str, partitions: int, replication: int, **kwargs: Any) -> None:
        async with self._listing:
            if self._existing is None:
                cluster = await self._ensure_producer().client.fetch_all_metadata()
                self._existing = set(cluster.topics())
        if topic in self._existing:
            return
        await super().create_topic(topic, partitions, replication, **kwargs)
        self._existing.add(topic)
