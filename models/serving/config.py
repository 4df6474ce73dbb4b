"""The serving policy's tuned settings: trending half-life and fold-in blend weight per history length."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from pydantic import Field, model_validator

from models.base import Params

HISTORY_BUCKETS = (1, 2, 4, 8, 16)
"""Lower bounds of the history-length buckets: 1, 2-3, 4-7, 8-15, 16+."""


def bucket_of(history_lengths: int | np.ndarray, buckets: Sequence[int] = HISTORY_BUCKETS) -> int | np.ndarray:
    """Index of the bucket (by ascending lower bounds ``buckets``) of each history length >= 1."""
    return np.maximum(np.searchsorted(buckets, history_lengths, side="right") - 1, 0)


class PolicyConfig(Params):
    """How a request is answered beyond the model itself; JSON-ready for the model card.

    The defaults are the behaviour before tuning: all-time counts and pure fold-in.
    """

    trending_half_life_days: Optional[float] = Field(None, gt=0)
    """Half-life of the trending counts behind ``popular-fallback`` and the fold-in blend
    (:class:`models.trending.TrendingCounts`); None keeps all-time counts."""
    history_buckets: tuple[int, ...] = HISTORY_BUCKETS
    """Ascending lower bounds of history-length buckets, the first one 1; a history's length
    is its count of distinct movies the model knows."""
    fold_in_weights: tuple[float, ...] = (1.0,) * len(HISTORY_BUCKETS)
    """Per bucket, the weight ``w`` of the normalised fold-in score in a new user's blend;
    ``1 - w`` goes to normalised trending. Few events make fold-in noisy, hence per length."""

    @model_validator(mode="after")
    def _buckets_match_weights(self) -> PolicyConfig:
        buckets = self.history_buckets
        if not buckets or buckets[0] != 1 or any(b >= a for b, a in zip(buckets, buckets[1:])):
            raise ValueError(f"history_buckets must ascend strictly from 1, not {buckets}")
        if len(self.fold_in_weights) != len(buckets):
            raise ValueError(f"{len(self.fold_in_weights)} fold_in_weights for {len(buckets)} history_buckets")
        if any(not 0.0 <= w <= 1.0 for w in self.fold_in_weights):
            raise ValueError(f"fold_in_weights must lie in [0, 1], not {self.fold_in_weights}")
        return self

    def fold_in_weight(self, history_length: int) -> float:
        """``w(n)``: the fold-in weight for a history of ``history_length`` movies."""
        return self.fold_in_weights[int(bucket_of(history_length, self.history_buckets))]
