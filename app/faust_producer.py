"""The Kafka producer of our Faust app: Faust's aiokafka producer, declaring only topics the cluster lacks.

A worker declares every topic it uses at start, before it joins its group: each agent's
channels, each table's changelog, the leader topic, some names several times over (some 60
declarations here). Faust skips a topic only when its producer's metadata already lists it,
and a producer that has just started knows none, so each declaration was a metadata request
and a CreateTopics request, one after the other: 3.4-5.7 s of a restart on a quiet machine
(``bench.failover``), pushing its join towards the session timeout. Here the first
declaration reads the cluster's topic list once (a metadata request naming no topic, which
creates none), and names on it are skipped, as Faust skips a name its metadata knows.

Every declared topic, skipped or created, is then tracked by the producer's metadata: Faust's
router finds a key's owner through the producer's partitioner, which raises ``TypeError``
for a topic the producer has not sent to yet; a request routed to another worker right
after a start would otherwise get 503 until a first write taught the producer that table.
"""
from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers import aiokafka


class Producer(aiokafka.Producer):
    """Faust's producer; ``create_topic`` creates only a topic the cluster lacks, and learns its partitions."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._existing: set[str] | None = None
        self._listing = asyncio.Lock()

    async def create_topic(self, topic: str, partitions: int, replication: int, **kwargs: Any) -> None:
        producer = self._ensure_producer()
        async with self._listing:
            if self._existing is None:
                self._existing = set((await producer.client.fetch_all_metadata()).topics())
        if topic not in self._existing:
            await super().create_topic(topic, partitions, replication, **kwargs)
            self._existing.add(topic)
        await producer.partitions_for(topic)
