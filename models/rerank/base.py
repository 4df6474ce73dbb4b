"""What every re-ranker takes and returns: an ordered candidate list, and the catalog context.

A re-ranker gets the candidates best first and returns all of them in a new order (the
answer is the first ``k``), so steps compose: the next step sees the order and the scores
the previous one left. Only a scoring step (popularity penalty) changes ``scores``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from models.fairness.exposure import Catalog
from models.rerank.genres import GenreProvider
from models.rerank.thompson import ThompsonSampler

DEFAULT_DEPTH = 3
"""Candidates scored per slot of the answer (k x depth) when a re-ranker is on."""


@dataclass(frozen=True)
class Candidates:
    """Movie ids in order (best first) and their scores."""

    movie_ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(cls, movie_ids, scores) -> Candidates:
        return cls(np.asarray(movie_ids, dtype=np.int64), np.asarray(scores, dtype=np.float64))

    def take(self, order: np.ndarray) -> Candidates:
        """The candidates in ``order`` (positions into this list)."""
        return Candidates(self.movie_ids[order], self.scores[order])

    def __len__(self) -> int:
        return int(self.movie_ids.size)


@dataclass
class Context:
    """The catalog facts re-rankers use: training popularity, the tail, genres, exploration state."""

    catalog: Catalog
    genres: GenreProvider = field(default_factory=GenreProvider)
    sampler: ThompsonSampler = field(default_factory=ThompsonSampler)
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def __post_init__(self) -> None:
        self._ids = self.catalog.movie_ids
        sorted_ids = np.all(np.diff(self._ids) > 0) if self._ids.size > 1 else True
        if not sorted_ids:
            raise ValueError("the catalog's movie ids must be sorted and distinct")
        self._log_pop = np.log1p(self.catalog.popularity)
        self._log_pop_max = float(self._log_pop.max()) if self._log_pop.size else 0.0

    def _positions(self, movie_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.searchsorted(self._ids, movie_ids)
        at = np.minimum(at, max(self._ids.size - 1, 0))
        known = self._ids[at] == movie_ids if self._ids.size else np.zeros(movie_ids.size, bool)
        return at, known

    def popularity(self, movie_ids: np.ndarray) -> np.ndarray:
        """log(1 + training interactions) over the catalog's largest, in [0, 1]; unknown movies 0."""
        at, known = self._positions(movie_ids)
        if not self._log_pop_max:
            return np.zeros(movie_ids.size)
        return np.where(known, self._log_pop[at] / self._log_pop_max, 0.0)

    def is_tail(self, movie_ids: np.ndarray) -> np.ndarray:
        """True for long-tail movies; a movie outside the catalog has no training interactions: tail."""
        at, known = self._positions(movie_ids)
        return np.where(known, self.catalog.tail_mask[at] if self._ids.size else True, True)


class Reranker(Protocol):
    """A re-ranking step: every candidate back, in the step's order."""

    depth: int

    def __call__(self, candidates: Candidates, k: int, context: Context) -> Candidates: ...


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] over the candidates (all 1 when flat), so weights mean the same for every model."""
    low, high = float(scores.min()), float(scores.max())
    if high <= low:
        return np.ones(scores.size)
    return (scores - low) / (high - low)


def by_score(values: np.ndarray) -> np.ndarray:
    """Positions ordered by ``values`` descending, ties kept in the current order."""
    return np.argsort(-values, kind="stable")
