"""Item agent: folds new interactions, re-keyed by movie, into the movie counts table."""
from __future__ import annotations

from typing import Any

from agents.topics import item_interactions
from app import app
from app.settings import get_settings
from tables import item_stats
from tables.history import apply_item_delta, item_deltas

settings = get_settings()


@app.agent(item_interactions)
async def count_items(stream: Any) -> None:
    """New watchers and ratings per movie; each movie's row is written once per batch."""
    async for batch in stream.take(settings.batch_size, within=settings.item_batch_within_s):
        by_movie: dict[bytes, dict[str, int] | None] = {}
        for value in batch:
            for delta in item_deltas(value):
                key = str(delta["movie_id"]).encode()
                current = by_movie[key] if key in by_movie else item_stats.get(key)
                by_movie[key] = apply_item_delta(current, delta)
        for key, stats in by_movie.items():
            item_stats[key] = stats
