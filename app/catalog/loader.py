"""Publish a catalog to the ``movies`` topic, and read the topic back (for training)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from app.catalog import check_movie, movie_key, records_from_frame
from app.exceptions import BadEvent
from app.kafka_security import client_kwargs
from app.schema_registry import codec_for
from app.settings import Settings
from app.topic_reader import read_to_end

TOPIC = "movies"
READ_TIMEOUT_S = 120.0


def catalog_records(source: str, seed: int = 0) -> list[dict[str, Any]]:
    """``Movie`` records of ``synthetic`` (the generator's catalog) or of a MovieLens folder."""
    if source == "synthetic":
        from models.data.synthetic import generate

        return records_from_frame(generate(seed=seed)[1])
    from models.data.movielens import load_catalog

    return records_from_frame(load_catalog(Path(source)))


async def publish(settings: Settings, records: list[dict[str, Any]]) -> int:
    """Send every record to ``movies`` keyed by movie id; returns how many were sent."""
    topic = settings.topic(TOPIC)
    codec = codec_for("Movie", topic)
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=10, acks="all")
    await producer.start()
    try:
        pending = [await producer.send(topic, codec.encode(r), key=movie_key(r["movie_id"])) for r in records]
        for future in pending:
            await future
    finally:
        await producer.stop()
    return len(records)


async def read_catalog(settings: Settings) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """The catalog as the topic holds it now (last valid record per movie, tombstones remove),
    and a description for a data manifest: topic, end offsets, movie count, content hash.
    """
    topic = settings.topic(TOPIC)
    codec = codec_for("Movie", topic)
    read = await read_to_end(settings, topic, READ_TIMEOUT_S)
    movies: dict[int, dict[str, Any]] = {}
    for record in read.records:
        _apply(movies, codec, record, settings.max_movie_id)
    digest = hashlib.sha256(json.dumps(sorted(movies.items()), sort_keys=True).encode()).hexdigest()
    described = {"topic": topic, "end_offsets": {str(tp.partition): end for tp, end in read.ends.items()},
                 "movies": len(movies), "sha256": digest}
    return movies, described


def _apply(movies: dict[int, dict[str, Any]], codec: Any, record: Any, max_movie_id: int) -> None:
    if record.value is None:  # a tombstone removes the movie
        if record.key is not None and record.key.isdigit():
            movies.pop(int(record.key), None)
        return
    try:
        movie = check_movie(codec.decode(record.value), max_movie_id)
    except BadEvent:
        return  # the worker dead-letters it; training just leaves it out
    movies[movie["movie_id"]] = movie
