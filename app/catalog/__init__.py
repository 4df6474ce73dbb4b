"""The movie catalog as data in the stream: Avro ``Movie`` records on the compacted ``movies`` topic.

Pure functions here (records from a catalog frame, the rules a record must pass, the JSON a
table row holds); ``app.catalog.loader`` publishes and reads the topic, and
``tables.catalog`` keeps it on every worker.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from app.events import MAX_USER_ID
from app.exceptions import InvalidEvent

MAX_TITLE_CHARS = 500
MAX_GENRES = 50
MIN_YEAR, MAX_YEAR = 1870, 2100


def movie_key(movie_id: int) -> bytes:
    """The message and table key of a movie: its id as UTF-8 decimal, like every other key."""
    return str(int(movie_id)).encode()


def records_from_frame(catalog: Any) -> list[dict[str, Any]]:
    """``Movie`` records from a catalog frame of ``models.data.movielens`` (genres ``|``-joined)."""
    records = []
    for movie_id, title, genres, year in catalog[["movie_id", "title", "genres", "year"]].itertuples(index=False):
        names = [g for g in str(genres or "").split("|") if g]
        records.append({"movie_id": int(movie_id), "title": str(title), "genres": names,
                        "year": None if pd.isna(year) else int(year)})
    return records


def check_movie(record: Mapping[str, Any], max_movie_id: int) -> dict[str, Any]:
    """The record if it may enter the catalog, else ``InvalidEvent`` with the reason."""
    movie_id = record["movie_id"]
    if not 0 < movie_id <= min(max_movie_id, MAX_USER_ID):
        raise InvalidEvent(f"movie_id {movie_id} is outside 1..{max_movie_id}")
    if not record["title"].strip() or len(record["title"]) > MAX_TITLE_CHARS:
        raise InvalidEvent(f"title must be 1..{MAX_TITLE_CHARS} characters, not {len(record['title'])}")
    if len(record["genres"]) > MAX_GENRES or any(not g.strip() for g in record["genres"]):
        raise InvalidEvent(f"genres must be at most {MAX_GENRES} non-empty names")
    year = record["year"]
    if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidEvent(f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")
    return dict(record)


def row_of(record: Mapping[str, Any]) -> bytes:
    """The table value of a checked record (JSON bytes: cheap for the garbage collector)."""
    return json.dumps({"title": record["title"], "genres": list(record["genres"]),
                       "year": record["year"]}).encode()


def parse_row(raw: bytes | None) -> dict[str, Any] | None:
    """A table value read back."""
    return None if raw is None else json.loads(raw)
