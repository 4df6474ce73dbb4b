"""Adapter agent: legacy raw ``movielog`` lines become Avro events on ``watch`` and ``rate``."""
from __future__ import annotations

import time
from typing import Any

from agents import topics
from agents.dead_letters import send_dead_letter
from app import app
from app.schema_registry import codec_for
from app.events import Limits, to_rate, to_watch
from app.exceptions import BadEvent, DecodeError
from app.movielog import parse_line
from app.partitioning import user_key
from app.settings import get_settings

settings = get_settings()
LIMITS = Limits.from_settings(settings)
TARGETS = {
    "watch": (topics.watch, codec_for("WatchEvent", settings.topic("watch")), to_watch),
    "rate": (topics.rate, codec_for("RateEvent", settings.topic("rate")), to_rate),
}


def translate(value: bytes | None, now_ms: int) -> tuple[str, bytes, bytes] | None:
    """``(kind, key, Avro value)`` for an event line, ``None`` for a skipped line."""
    try:
        line = (value or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"movielog: not UTF-8 text ({exc})") from exc
    parsed = parse_line(line)
    if parsed is None:
        return None
    kind, record = parsed
    _, codec, check = TARGETS[kind]
    check(record, LIMITS, now_ms)
    return kind, user_key(record["user_id"]), codec.encode(record)


@app.agent(topics.movielog)
async def adapt_movielog(stream: Any) -> None:
    """Translate each raw line; lines that are neither events nor logged answers are dead letters."""
    async for event in stream.events():
        try:
            translated = translate(event.message.value, int(time.time() * 1000))
        except BadEvent as exc:
            await send_dead_letter(event.message, exc)
            continue
        if translated is not None:
            kind, key, value = translated
            await TARGETS[kind][0].send(key=key, value=value)
