"""Offline cases answered by the served code: :func:`recommend` at each case's moment, trending replayed.

This is the one code path of every time-based figure: the served strategies, their tuning
and the baselines (most-popular, recent popularity, a model's plain fold-in) are all
:func:`models.serving.policy.recommend` with another bundle or :class:`PolicyConfig`, and
``anonymous`` for the popularity baselines (the user and their live history are hidden; their
movies are still never shown).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from models.bundle import ModelBundle
from models.evaluation.cases import Case
from models.serving.config import PolicyConfig
from models.serving.policy import recommend
from models.trending import TrendingCounts

ANONYMOUS = -1
"""A user id no model knows (real ids are positive)."""
K = 10


@dataclass(frozen=True)
class Ranker:
    """Something evaluated: a bundle answering through ``recommend`` with a config."""

    bundle: ModelBundle
    config: PolicyConfig = PolicyConfig()
    anonymous: bool = False
    """Answer as for a user with no history (popularity baselines)."""


def pure(config: PolicyConfig = PolicyConfig()) -> PolicyConfig:
    """``config`` with the model alone for everyone who has a history: a plain model / fold-in."""
    return config.model_copy(update={"fold_in_weights": (1.0,) * len(config.history_buckets), "model_weight": 1.0,
                               "active_model_weight": 1.0})


def popular(half_life_days: float | None = None, training: bool = False) -> PolicyConfig:
    """Popularity alone: trending at ``half_life_days`` (None: all-time so far), or the training counts."""
    return PolicyConfig(trending_half_life_days=half_life_days,
                        fallback_popularity="training" if training else "trending")


def serve_cases(ranker: Ranker, cases: Sequence[Case], events: pd.DataFrame, k: int = K) -> list[list[int]]:
    """Each case's answer (raw movie ids), trending having counted every event of ``events`` before it.

    Cases are answered in time order, as a worker meets them; the lists come back in case order.
    """
    bundle, config = ranker.bundle, ranker.config
    trending = TrendingCounts(config.trending_half_life_days, bundle.maps.items.raw)
    events = events.sort_values("ts", kind="stable")
    movies, ts = events["movie_id"].to_numpy(np.int64), events["ts"].to_numpy(np.int64)
    counted = 0
    lists: list[list[int]] = [[] for _ in cases]
    for index in sorted(range(len(cases)), key=lambda i: cases[i].ts):
        case = cases[index]
        until = int(np.searchsorted(ts, case.ts, side="left"))
        trending.update_many(movies[counted:until], ts[counted:until])
        counted = until
        if ranker.anonymous:
            user, history, exclude, last = ANONYMOUS, (), (*case.exclude, *case.history), None
        else:
            user, history, exclude, last = case.user_id, case.history, case.exclude, case.last_active
        lists[index] = recommend(bundle, user, k, history=history, exclude=exclude, trending=trending,
                                 now=case.ts, last_active=last, config=config).movie_ids
    return lists
