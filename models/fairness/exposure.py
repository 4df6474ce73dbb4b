"""Exposure metrics of DESIGN.md section 6 over the WHOLE catalog, tiers from training interactions.

The system this replaces computed Gini over exposed movies only and defined popularity
tiers by the very exposure it measured; here a never-shown movie is a 0 in the counts and
the head (most popular 20% of the catalog) is fixed by training interactions, so neither
mistake can come back through this module.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np

from models.metrics import gini, long_tail_mask
from models.metrics.tail_share import HEAD_SHARE

TIERS = ("head", "tail")


@dataclass(frozen=True)
class Catalog:
    """The movies a deployment can show and their training interactions (the popularity tiers)."""

    movie_ids: np.ndarray
    """Raw movie ids, one per catalog position."""
    popularity: np.ndarray
    """Training interactions per catalog position."""
    head_share: float = HEAD_SHARE

    @classmethod
    def from_popularity(cls, popularity: Mapping[int, float], head_share: float = HEAD_SHARE) -> Catalog:
        """A catalog from movie id -> training interactions (movies with 0 included)."""
        ids = np.fromiter(popularity.keys(), dtype=np.int64, count=len(popularity))
        pop = np.fromiter(popularity.values(), dtype=np.float64, count=len(popularity))
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], pop[order], head_share)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tail", long_tail_mask(self.popularity, self.head_share))
        object.__setattr__(self, "_position", {int(m): i for i, m in enumerate(self.movie_ids)})

    @property
    def size(self) -> int:
        return int(self.movie_ids.size)

    @property
    def tail_mask(self) -> np.ndarray:
        """True for long-tail positions (outside the most popular ``head_share`` by training)."""
        return self._tail  # type: ignore[attr-defined]

    def tail_ids(self) -> frozenset[int]:
        """Raw ids of the long-tail movies."""
        return frozenset(int(m) for m in self.movie_ids[self.tail_mask])

    def counts(self, exposures: Mapping[int, int] | Iterable[Iterable[int]]) -> np.ndarray:
        """Exposure per catalog position from movie id -> count, or from served lists of ids.

        Movies outside the catalog are ignored: the catalog is what the denominator means.
        """
        counts = np.zeros(self.size, dtype=np.int64)
        position = self._position  # type: ignore[attr-defined]
        if isinstance(exposures, Mapping):
            for movie, n in exposures.items():
                at = position.get(int(movie))
                if at is not None:
                    counts[at] += int(n)
            return counts
        for movies in exposures:
            for movie in movies:
                at = position.get(int(movie))
                if at is not None:
                    counts[at] += 1
        return counts


@dataclass(frozen=True)
class FairnessSummary:
    """The exposure figures of one arm and window (all 0 for an empty window, never NaN)."""

    n_responses: int
    exposures: int
    catalog_size: int
    gini: float
    coverage: float
    starvation: float
    tail_share: float
    amplification: dict[str, float]
    training_share: dict[str, float]
    exposure_share: dict[str, float]

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(counts: np.ndarray, catalog: Catalog, n_responses: int) -> FairnessSummary:
    """Gini, coverage, starvation, tail share and tier amplification of exposure ``counts``.

    ``counts`` has one entry per catalog position. Amplification of a tier is its share of
    exposures over its share of training interactions (0 when either is empty).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (catalog.size,):
        raise ValueError(f"counts have shape {counts.shape}, the catalog {catalog.size} movies")
    total = float(counts.sum())
    trained = float(catalog.popularity.sum())
    tail = catalog.tail_mask
    masks = {"head": ~tail, "tail": tail}
    exposure_share = {t: float(counts[m].sum() / total) if total else 0.0 for t, m in masks.items()}
    training_share = {t: float(catalog.popularity[m].sum() / trained) if trained else 0.0
                      for t, m in masks.items()}
    amplification = {t: exposure_share[t] / training_share[t] if training_share[t] and total else 0.0
                     for t in TIERS}
    shown = int(np.count_nonzero(counts))
    size = catalog.size
    return FairnessSummary(
        n_responses=int(n_responses),
        exposures=int(total),
        catalog_size=size,
        gini=gini(counts) if size else 0.0,
        coverage=shown / size if size else 0.0,
        starvation=(size - shown) / size if size else 0.0,
        tail_share=exposure_share["tail"],
        amplification=amplification,
        training_share=training_share,
        exposure_share=exposure_share,
    )


def lorenz(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve of exposure: cumulative share of movies (x) against share of exposure (y)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    total = x.sum()
    cum = np.concatenate([[0.0], np.cumsum(x) / total]) if total else np.linspace(0, 1, x.size + 1)
    return np.linspace(0.0, 1.0, x.size + 1), cum
