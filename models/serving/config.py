"""The serving policy's tuned settings: trending half-life and fold-in blend weight per history length."""
from __future__ import annotations

from typing import Literal, Optional, Sequence

import numpy as np
from pydantic import Field, model_validator

from models.base import Params

Popularity = Literal["trending", "training"]
"""Which counts a strategy uses: the live decayed ``trending`` counts, or the model's all-time
``training`` counts (frozen at training; no half-life, and no replay window of the worker)."""
HOUR_MS = 3_600_000
HISTORY_BUCKETS = (1, 2, 4, 8, 16)
"""Lower bounds of the history-length buckets: 1, 2-3, 4-7, 8-15, 16+."""


def bucket_of(history_lengths: int | np.ndarray, buckets: Sequence[int] = HISTORY_BUCKETS) -> int | np.ndarray:
    """Index of the bucket (by ascending lower bounds ``buckets``) of each history length >= 1."""
    return np.maximum(np.searchsorted(buckets, history_lengths, side="right") - 1, 0)


class PolicyConfig(Params):
    """How a request is answered beyond the model itself; JSON-ready for the model card.

    The defaults are the behaviour before tuning: all-time counts, pure fold-in, the model alone.
    """

    trending_half_life_days: Optional[float] = Field(None, gt=0)
    """Half-life of the trending counts behind ``popular-fallback`` and the fold-in blend
    (:class:`models.trending.TrendingCounts`); None keeps all-time counts."""
    history_buckets: tuple[int, ...] = HISTORY_BUCKETS
    """Ascending lower bounds of history-length buckets, the first one 1; a history's length
    is its count of distinct movies the model knows."""
    fold_in_weights: tuple[float, ...] = (1.0,) * len(HISTORY_BUCKETS)
    """Per bucket, the weight ``w`` of the normalised fold-in score in a new user's blend;
    ``1 - w`` goes to the normalised ``fold_in_popularity``. Few events make fold-in noisy,
    hence per length."""
    fold_in_popularity: tuple[Popularity, ...] = ("trending",) * len(HISTORY_BUCKETS)
    """Per bucket, the counts a new user's fold-in is blended with."""
    model_weight: float = Field(1.0, ge=0.0, le=1.0)
    """Weight of the model's normalised score for a known user; ``1 - w`` goes to the normalised
    ``model_popularity`` (what is watched now helps a model that stopped learning at training)."""
    model_popularity: Popularity = "trending"
    """The counts a known user's scores are blended with (when ``model_weight`` < 1)."""
    active_within_hours: float = Field(1.0, gt=0)
    """A known user whose latest event lies at most this long before the request is *active*
    (in a session): the model has just seen their taste, so popularity helps them less."""
    active_model_weight: float = Field(1.0, ge=0.0, le=1.0)
    """``model_weight`` for an active known user (blended with the same ``model_popularity``)."""
    fallback_popularity: Popularity = "trending"
    """The counts that answer a user with no known history (``popular-fallback``)."""

    @model_validator(mode="after")
    def _buckets_match_weights(self) -> PolicyConfig:
        buckets = self.history_buckets
        if not buckets or buckets[0] != 1 or any(b >= a for b, a in zip(buckets, buckets[1:])):
            raise ValueError(f"history_buckets must ascend strictly from 1, not {buckets}")
        if len(self.fold_in_weights) != len(buckets):
            raise ValueError(f"{len(self.fold_in_weights)} fold_in_weights for {len(buckets)} history_buckets")
        if len(self.fold_in_popularity) != len(buckets):
            raise ValueError(f"{len(self.fold_in_popularity)} fold_in_popularity for {len(buckets)} history_buckets")
        if any(not 0.0 <= w <= 1.0 for w in self.fold_in_weights):
            raise ValueError(f"fold_in_weights must lie in [0, 1], not {self.fold_in_weights}")
        return self

    def model_weight_for(self, idle_ms: Optional[int]) -> float:
        """A known user's model weight, given the time since their latest event (None: unknown, idle)."""
        active = idle_ms is not None and idle_ms <= self.active_within_hours * HOUR_MS
        return self.active_model_weight if active else self.model_weight

    def fold_in_weight(self, history_length: int) -> tuple[float, Popularity]:
        """``w(n)`` and the popularity blended in, for a history of ``history_length`` movies."""
        bucket = int(bucket_of(history_length, self.history_buckets))
        return self.fold_in_weights[bucket], self.fold_in_popularity[bucket]
