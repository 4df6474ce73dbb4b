"""Thompson sampling on per-movie conversion: Beta posteriors from exposures and conversions.

A movie nobody has been shown has the prior's spread, so it is sometimes drawn high and
earns exposure; one that converts often keeps being drawn high, one that never converts
fades. Trials come from exposures, successes from conversions (the rollout's conversion
stream); both only add, so feeding them from two streams in any order is fine.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import repeat
from typing import Iterable

import numpy as np


class ThompsonSampler:
    """Per-movie Beta(alpha + conversions, beta + exposures - conversions) posteriors."""

    def __init__(self, alpha: float = 1.0, beta: float = 1.0) -> None:
        if alpha <= 0 or beta <= 0:
            raise ValueError("the Beta prior needs alpha > 0 and beta > 0")
        self.alpha, self.beta = float(alpha), float(beta)
        self.trials: defaultdict[int, int] = defaultdict(int)
        self.successes: defaultdict[int, int] = defaultdict(int)

    def expose(self, movie_ids: Iterable[int]) -> None:
        """Count one trial for each movie shown."""
        trials = self.trials
        for movie in np.asarray(movie_ids, dtype=np.int64).tolist():
            trials[movie] += 1

    def convert(self, movie_id: int) -> None:
        """Count one success for a movie whose exposure converted."""
        self.successes[int(movie_id)] += 1

    def posterior(self, movie_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """The Beta parameters of each movie (a conversion seen before its exposure still counts)."""
        movies = np.asarray(list(movie_ids) if not isinstance(movie_ids, np.ndarray) else movie_ids,
                            dtype=np.int64).tolist()
        wins = np.fromiter(map(self.successes.get, movies, repeat(0)), dtype=np.float64, count=len(movies))
        shown = np.fromiter(map(self.trials.get, movies, repeat(0)), dtype=np.float64, count=len(movies))
        return self.alpha + wins, self.beta + np.maximum(shown - wins, 0.0)

    def draw(self, movie_ids: Iterable[int], rng: np.random.Generator) -> np.ndarray:
        """One draw of each movie's conversion rate from its posterior."""
        a, b = self.posterior(movie_ids)
        return rng.beta(a, b) if a.size else np.empty(0)
