"""The one place re-rankers read genres from: any movie id -> genres mapping or lookup.

Until the catalog's global table lands, the mapping comes from the MovieLens loader, the
synthetic generator or a model's catalog; pointing it at the table is a new ``source``.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Union

import pandas as pd

Genres = Union[str, Iterable[str], None]
Source = Union[Mapping[int, Genres], Callable[[int], Genres]]


def _as_set(genres: Genres) -> frozenset[str]:
    if not genres:
        return frozenset()
    names = genres.split("|") if isinstance(genres, str) else genres
    return frozenset(name for name in names if name)


class GenreProvider:
    """Genres of a movie as a set; a movie the source does not know has none (never an error)."""

    def __init__(self, source: Source | None = None) -> None:
        self._source = source or {}
        self._cache: dict[int, frozenset[str]] = {}

    @classmethod
    def from_catalog(cls, catalog: pd.DataFrame) -> GenreProvider:
        """From a loader's catalog frame (``movie_id``, ``genres`` joined by ``|``)."""
        return cls(dict(zip(catalog["movie_id"].astype(int), catalog["genres"].astype(str))))

    def of(self, movie_id: int) -> frozenset[str]:
        """The genres of ``movie_id``."""
        found = self._cache.get(movie_id)
        if found is None:
            source = self._source
            raw = source(movie_id) if callable(source) else source.get(movie_id)
            found = _as_set(raw)
            if found:  # a movie the live catalog does not hold yet is asked again later
                self._cache[movie_id] = found
        return found
