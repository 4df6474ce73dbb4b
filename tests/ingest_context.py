"""``ingest_events`` under Faust's ``agent.test_context()``, fed as if from a named topic, and its batch wait."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from faust.types import TopicT

from agents import topics
from agents.ingest import ingest_events
from app.settings import get_settings


@asynccontextmanager
async def ingest_context(topic: TopicT = topics.watch) -> AsyncIterator[Any]:
    """The agent's test wrapper; its messages read as if from ``topic`` until told otherwise.

    Faust names a test message's topic after the agent's channel, and ``<internal>`` when
    the channel has several topics, as this one does: the agent tells a watch from a rating
    by its topic. Set ``agent.original_channel`` to feed the next messages from another.
    """
    async with ingest_events.test_context() as agent:
        agent.original_channel = topic
        yield agent


async def settle() -> None:
    """Let the agent's batch window (``batch_within_s``) close and the batch land."""
    await asyncio.sleep(get_settings().batch_within_s + 0.15)
