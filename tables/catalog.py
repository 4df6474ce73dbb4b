"""The movie catalog on every worker: a Faust GlobalTable fed from the ``movies`` topic.

``agents.catalog`` checks each ``Movie`` record and writes it here; as a global table every
worker reads all of its changelog, so any worker can title any answer. ``title_of`` and
``genres_of`` are the lookups the rest of the code (titles in answers, genre re-rankers) uses.
"""
from __future__ import annotations

from typing import Any

import faust

from app import app
from app.catalog import parse_row
from app.metrics import CATALOG_MOVIES

# One partition and a recovery buffer of 1, as Faust's GlobalTable docstring asks for tables
# that several workers share (larger settings can loop in recovery); a catalog is small.
catalog: faust.GlobalTable = app.GlobalTable(
    "catalog", key_type=bytes, value_type=bytes, partitions=1, recovery_buffer_size=1,
    synchronize_all_active_partitions=True, help="Movie catalog rows (title, genres, year) by movie id.")
CATALOG_MOVIES.set_function(lambda: len(catalog))


def movie(movie_id: int) -> dict[str, Any] | None:
    """The catalog row of a movie (title, genres, year), None when the catalog lacks it."""
    return parse_row(catalog.get(str(int(movie_id)).encode()))


def title_of(movie_id: int) -> str:
    """The movie's title, empty when the catalog lacks it."""
    row = movie(movie_id)
    return row["title"] if row else ""


def genres_of(movie_id: int) -> tuple[str, ...]:
    """The movie's genres, empty when unknown: what genre-aware re-rankers ask."""
    row = movie(movie_id)
    return tuple(row["genres"]) if row else ()
