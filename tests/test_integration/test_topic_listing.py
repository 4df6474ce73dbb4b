"""app.topic_listing against the real broker: a wait that returns once new topics are listed,
and one that gives up naming the topic that never appeared."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.topic_listing import TopicsNotListed, wait_listed

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]


async def created_then_waited(bootstrap: str, created: list[str], waited: list[str], timeout_s: float) -> list[str]:
    """Create ``created``, wait for ``waited``; the topics a second client lists right after."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in created])
        await wait_listed(admin, waited, timeout_s)
    finally:
        await admin.close()
    other = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await other.start()
    try:
        return await other.list_topics()
    finally:
        await other.close()


def test_returns_once_every_new_topic_is_listed(kafka_bootstrap: str) -> None:
    names = [f"t-listed-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    listed = asyncio.run(created_then_waited(kafka_bootstrap, names, names, 10.0))
    assert set(names) <= set(listed)


def test_gives_up_after_its_timeout_naming_the_missing_topic(kafka_bootstrap: str) -> None:
    made, never = f"t-listed-{uuid.uuid4().hex[:8]}", f"t-never-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(TopicsNotListed, match=never) as raised:
        asyncio.run(created_then_waited(kafka_bootstrap, [made], [made, never], 0.5))
    assert made not in str(raised.value)
    assert time.monotonic() - started < 5.0
