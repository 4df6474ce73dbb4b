"""Catalog agent: check each ``Movie`` record of the ``movies`` topic, then write it to the global table."""
from __future__ import annotations

from typing import Any

from agents import topics
from agents.dead_letters import send_dead_letter
from app import app
from app.catalog import check_movie, row_of
from app.exceptions import BadEvent, OversizeEvent
from app.schema_registry import codec_for
from app.settings import get_settings
from tables.catalog import catalog

settings = get_settings()
MOVIE = codec_for("Movie", settings.topic("movies"))


def read_movie(value: bytes) -> dict[str, Any]:
    """A checked ``Movie`` record from raw bytes, or the ``BadEvent`` that says why not."""
    if len(value) > settings.max_payload_bytes:
        raise OversizeEvent(f"{len(value)} bytes exceeds the {settings.max_payload_bytes}-byte limit")
    return check_movie(MOVIE.decode(value), settings.max_movie_id)


@app.agent(topics.movies)
async def load_catalog(stream: Any) -> None:
    """Valid movies into the catalog table, tombstones out of it, the rest to dead-letters."""
    async for event in stream.events():
        message = event.message
        if message.value is None:
            if message.key:
                catalog.pop(message.key, None)
            continue
        try:
            movie = read_movie(message.value)
        except BadEvent as exc:
            await send_dead_letter(message, exc)
            continue
        catalog[message.key or str(movie["movie_id"]).encode()] = row_of(movie)
