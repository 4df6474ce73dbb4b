"""Moving a message that sits on a partition not owning its user to the owning partition.

librdkafka clients place keys with CRC32 unless told otherwise, so a user's event can land
on a partition whose worker does not hold the user's rows. Such a message is re-sent,
untouched, to the owning partition of the topic's internal ``-rerouted`` twin, with a header
naming where it was first produced so a copy made twice is applied once, and with the
producer's W3C trace headers so its trace goes on.
"""
from __future__ import annotations

from typing import Any

from faust.types import TopicT

from agents import topics
from app.observability.tracing import trace_context

ORIGIN_HEADER = "movierecs-origin"
REROUTE_TOPICS = {t.get_topic_name() for t in (topics.watch_rerouted, topics.rate_rerouted,
                                               topics.reco_requests_rerouted)}


def origin(message: Any) -> tuple[str, int]:
    """``("topic:partition", offset)`` where the message was first produced.

    The header is trusted only on the internal reroute topics, which clients do not write.
    """
    if message.topic in REROUTE_TOPICS:
        for name, value in message.headers or ():
            if name == ORIGIN_HEADER:
                topic, partition, offset = value.decode().rsplit(":", 2)
                return f"{topic}:{partition}", int(offset)
    return f"{message.topic}:{message.partition}", message.offset


async def reroute(target: TopicT, message: Any, key: bytes, owner: int) -> None:
    """Send ``message`` unchanged to partition ``owner`` of ``target``, with its origin."""
    stream, offset = origin(message)
    await target.send(key=key, value=message.value, partition=owner,
                      headers=[(ORIGIN_HEADER, f"{stream}:{offset}".encode()), *trace_context(message.headers)])
