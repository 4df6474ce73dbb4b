"""Exposure per arm and window: pure functions over JSON rows, so they are tested without Faust.

A row (one arm, one tumbling window) is ``{"responses": n, "movies": {"<movie id>": count}}``;
movie ids are strings because the row travels through the table's changelog as JSON.
A worker folds the lists it serves into one delta per arm and window (:class:`ExposureFold`)
and sends the deltas now and then, so the table's row is rewritten once per flush, not per
response.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

Row = dict[str, Any]
WINDOWS = ("current", "previous", "all")
"""What ``/fairness?window=`` accepts: the window holding now, the one before it, every kept one."""


def window_start(ts_ms: int, window_s: float) -> int:
    """Start (epoch ms) of the tumbling window of ``window_s`` seconds holding ``ts_ms``."""
    size = int(window_s * 1000)
    return ts_ms - ts_ms % size


def empty_row() -> Row:
    return {"responses": 0, "movies": {}}


class ExposureFold:
    """Served lists folded per (arm, window start) until taken: bounded by arms x windows x movies."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._deltas: dict[tuple[str, int], Row] = {}

    def add(self, response: Mapping[str, Any]) -> bool:
        """Count ``response`` if it showed a list (status 200 with movies; errors showed nothing); whether it did."""
        if response.get("status") != 200 or not response.get("movie_ids"):
            return False
        key = (str(response.get("arm") or ""), window_start(int(response["ts"]), self._window_s))
        row = self._deltas.setdefault(key, empty_row())
        row["responses"] += 1
        movies = row["movies"]
        for movie in response["movie_ids"]:
            movies[str(movie)] = movies.get(str(movie), 0) + 1
        return True

    def take(self) -> dict[tuple[str, int], Row]:
        """The deltas folded since the last take; the fold starts empty again."""
        deltas, self._deltas = self._deltas, {}
        return deltas


def merge(current: Row | None, delta: Mapping[str, Any]) -> Row:
    """``current`` plus ``delta`` (a new row; ``current`` is left as it was)."""
    row = {"responses": (current or {}).get("responses", 0) + delta["responses"],
           "movies": dict((current or {}).get("movies", {}))}
    movies = row["movies"]
    for movie, count in delta["movies"].items():
        movies[movie] = movies.get(movie, 0) + count
    return row


def total(rows: Iterable[Row | None]) -> Row:
    """The sum of rows (several windows); missing rows count as empty."""
    out = empty_row()
    for row in rows:
        if row:
            out = merge(out, row)
    return out


def movie_counts(row: Row | None) -> dict[int, int]:
    """Movie id -> exposures of a row."""
    return {int(movie): int(n) for movie, n in (row or empty_row())["movies"].items()}
