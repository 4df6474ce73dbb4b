"""Sending unusable messages to the dead-letter topic, untouched and with the reason."""
from __future__ import annotations

import time

from faust.types import Message

from agents.topics import dead_letters
from app.schema_registry import codec_for
from app.exceptions import BadEvent
from app.metrics import DEAD_LETTERS
from app.observability.recent import RECENT_DEAD_LETTERS
from app.settings import get_settings

_CODEC = codec_for("DeadLetter", get_settings().topic("dead-letters"))
_LIMIT = get_settings().max_payload_bytes


def dead_letter_value(message: Message, error: BadEvent) -> bytes:
    """The Avro ``DeadLetter`` for ``message``; an oversize payload keeps only its head."""
    payload = message.value if isinstance(message.value, bytes) else b""
    reason = str(error)
    if len(payload) > _LIMIT:
        reason += f" (payload truncated to {_LIMIT} of {len(payload)} bytes)"
        payload = payload[:_LIMIT]
    return _CODEC.encode({
        "source_topic": message.topic, "partition": message.partition,
        "offset": message.offset, "ts": int(time.time() * 1000),
        "error": reason, "payload": payload,
    })


async def send_dead_letter(message: Message, error: BadEvent) -> None:
    """Park ``message`` on the dead-letter topic, keyed by its source topic."""
    DEAD_LETTERS.labels(message.topic, error.category).inc()
    RECENT_DEAD_LETTERS.add(message.topic, message.partition, message.offset, error.category, str(error))
    await dead_letters.send(key=message.topic.encode(), value=dead_letter_value(message, error))
