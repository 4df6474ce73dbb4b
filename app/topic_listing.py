"""Waiting until the cluster's metadata lists topics that were just created.

CreateTopics answers before the brokers' metadata has the new topics, so a client that asks
at once may not see them yet: a worker subscribing then leaves such a topic out of its
assignment until its next metadata refresh (minutes), and a tool that checks "does it exist"
sees no. Whoever creates topics for others waits here first.
"""
from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient


class TopicsNotListed(TimeoutError):
    """Topics created here that the metadata still did not list when the wait ran out."""


async def wait_listed(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Return once metadata lists every one of ``names``; ``TopicsNotListed`` naming the rest after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while missing := sorted(set(names) - set(await admin.list_topics())):
        if time.monotonic() > deadline:
            raise TopicsNotListed(f"topics {missing} not in the cluster's metadata after {timeout_s} s")
        await asyncio.sleep(0.05)
