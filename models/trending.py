"""Trending popularity: exponentially decayed interaction counts per movie, updated in O(1)."""
from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd

from models.base import top_k
from models.interactions import IdMap

DAY_MS = 86_400_000
_REBASE_HALF_LIVES = 256.0
"""Stored masses are scaled to a reference time; past this many half-lives after it, they are
rescaled so that ``2 ** exponent`` stays far from float64's overflow."""


class TrendingCounts:
    """Per-movie interaction counts in which an event ``h`` half-lives old counts ``0.5 ** h``.

    What was popular this fortnight predicts the next watch better than all-time counts, and a
    decayed count needs no window of events to expire. Each movie's mass is stored relative to
    a reference time (an event at ``ts`` adds ``2 ** ((ts - reference) / half_life)``), so an
    update is one addition whatever the order of events, and the score at ``now`` is one
    multiplication. ``half_life_days=None`` keeps plain all-time counts.

    Movies take slots in order of first appearance (or of ``movie_ids`` given up front), so the
    scores are one numpy array and top-k is vectorised. Timestamps are epoch milliseconds.
    """

    def __init__(self, half_life_days: Optional[float] = None, movie_ids: Iterable[int] = ()) -> None:
        if half_life_days is not None and not half_life_days > 0:
            raise ValueError(f"half_life_days must be positive or None, not {half_life_days!r}")
        self.half_life_days = half_life_days
        self._half_life_ms = None if half_life_days is None else float(half_life_days) * DAY_MS
        self.reference_ts = 0
        self.last_ts = 0
        self._slots: dict[int, int] = {}
        self._ids = np.empty(0, dtype=np.int64)
        self._mass = np.empty(0, dtype=np.float64)
        self._lookup: tuple[IdMap, np.ndarray] | None = None
        for movie_id in movie_ids:
            self._slot(int(movie_id))

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def movie_ids(self) -> np.ndarray:
        """Every movie counted (or registered), in slot order: the order of :meth:`scores`."""
        return self._ids[: len(self)]

    def _slot(self, movie_id: int) -> int:
        slot = self._slots.get(movie_id)
        if slot is None:
            slot = self._slots[movie_id] = len(self._slots)
            if slot == self._ids.size:  # doubling keeps appends amortised O(1)
                grown = max(16, 2 * slot)
                self._ids = np.resize(self._ids, grown)
                self._mass = np.concatenate([self._mass, np.zeros(grown - slot)])
            self._ids[slot] = movie_id
            self._lookup = None
        return slot

    def _weight(self, ts: np.ndarray | int) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.float64)
        if self._half_life_ms is None:
            return np.ones_like(ts)
        return np.exp2((ts - self.reference_ts) / self._half_life_ms)

    def _advance(self, ts: int) -> None:
        """Move the reference time forward when ``ts`` would make a weight overflow."""
        self.last_ts = max(self.last_ts, int(ts))
        if self._half_life_ms is not None and (ts - self.reference_ts) / self._half_life_ms > _REBASE_HALF_LIVES:
            self._mass[: len(self)] *= np.exp2((self.reference_ts - ts) / self._half_life_ms)
            self.reference_ts = int(ts)

    def update(self, movie_id: int, ts: int) -> None:
        """Count one new interaction with ``movie_id`` at ``ts``."""
        self._advance(ts)
        slot = self._slot(int(movie_id))  # before indexing: a new slot may reallocate the array
        self._mass[slot] += float(self._weight(int(ts)))

    def update_many(self, movie_ids: np.ndarray, ts: np.ndarray) -> None:
        """Count many interactions at once (a snapshot, or the events between two requests)."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64).ravel()
        ts = np.asarray(ts, dtype=np.int64).ravel()
        if not movie_ids.size:
            return
        self._advance(int(ts.max()))
        distinct, inverse = np.unique(movie_ids, return_inverse=True)
        slots = np.fromiter((self._slot(int(m)) for m in distinct), dtype=np.int64, count=distinct.size)
        np.add.at(self._mass, slots[inverse], self._weight(ts))

    def _scale(self, now: Optional[int]) -> float:
        if self._half_life_ms is None:
            return 1.0
        now = self.last_ts if now is None else int(now)
        return float(np.exp2((self.reference_ts - now) / self._half_life_ms))

    def scores(self, now: Optional[int] = None) -> np.ndarray:
        """Decayed counts at ``now`` (default: the latest event), aligned with :attr:`movie_ids`."""
        return self._mass[: len(self)] * self._scale(now)

    def scores_of(self, movie_ids: np.ndarray, now: Optional[int] = None) -> np.ndarray:
        """Decayed counts of ``movie_ids`` at ``now``; 0 for a movie never counted."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        if movie_ids.size <= len(self) and np.array_equal(self._ids[: movie_ids.size], movie_ids):
            # a server's counts start from its model's catalog, so per request this is a slice
            return self._mass[: movie_ids.size] * self._scale(now)
        if self._lookup is None:  # rebuilt only after new movies arrived
            order = np.argsort(self.movie_ids, kind="stable")
            self._lookup = (IdMap(self.movie_ids[order]), order)
        sorted_ids, order = self._lookup
        position = sorted_ids.index_of(movie_ids)
        found = position >= 0
        out = np.zeros(position.size, dtype=np.float64)
        out[found] = self._mass[order[position[found]]] * self._scale(now)
        return out

    def top_k(
        self, k: int, exclude: Iterable[int] = (), now: Optional[int] = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` highest-scoring movies outside ``exclude`` as ``(movie_ids, scores)``.

        Only movies with a positive count take part, so a short answer tells the caller to
        back-fill; ties (at float32 precision, as :func:`models.base.top_k` ranks) go to the
        movie counted first.
        """
        scores = self.scores(now)
        banned = [slot for slot in (self._slots.get(int(m)) for m in exclude) if slot is not None]
        banned = np.concatenate([np.asarray(banned, dtype=np.int64), np.flatnonzero(scores <= 0)])
        slots, _ = top_k(scores, k, banned)
        return self.movie_ids[slots], scores[slots]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready state (for a table row or a model card); :meth:`from_dict` reads it.

        ``mass`` is per movie, relative to ``reference_ts``: the score at ``now`` is
        ``mass * 0.5 ** ((now - reference_ts) / half_life)``.
        """
        return {
            "half_life_days": self.half_life_days,
            "reference_ts": int(self.reference_ts),
            "last_ts": int(self.last_ts),
            "movie_ids": [int(m) for m in self.movie_ids],
            "mass": [float(m) for m in self._mass[: len(self)]],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TrendingCounts:
        """Rebuild what :meth:`to_dict` wrote."""
        trending = cls(state["half_life_days"], state["movie_ids"])
        trending.reference_ts = int(state["reference_ts"])
        trending.last_ts = int(state["last_ts"])
        trending._mass[: len(trending)] = np.asarray(state["mass"], dtype=np.float64)
        return trending

    @classmethod
    def from_interactions(
        cls, frame: pd.DataFrame, half_life_days: Optional[float], movie_ids: Iterable[int] = ()
    ) -> TrendingCounts:
        """Counts of an interaction frame (columns ``movie_id``, ``ts``): a rebuild from a snapshot."""
        trending = cls(half_life_days, movie_ids)
        trending.update_many(frame["movie_id"].to_numpy(), frame["ts"].to_numpy())
        return trending
