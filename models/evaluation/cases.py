"""A time cut of an interaction frame and the offline request ("case") every time-based protocol scores.

A case is what a worker would be asked at one moment (user, live history, movies not to show)
and the movies that count as hits. Protocols build cases; whoever is evaluated answers them
with one list each; :func:`models.evaluation.stats.list_metrics` scores the lists.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.interactions import order_in_history


@dataclass(frozen=True)
class Case:
    """One request of an offline protocol, in raw ids, and its relevant movies."""

    user_id: int
    ts: int
    """The moment of the request (epoch ms): trending has counted every event strictly before it."""
    history: tuple[int, ...]
    """The user's live history, oldest first (``recommend(history=...)``)."""
    exclude: tuple[int, ...]
    """Every other movie the user already has (the model may not know them): never shown."""
    relevant: frozenset[int]
    """The movies that count as hits."""
    last_active: int | None = None
    """The user's latest event before the request (epoch ms), as the worker's live table knows it."""


@dataclass(frozen=True)
class TimeCut:
    """A frame cut at ``cut``: training sees ``before``; ``after`` is what happens next, up to ``end``."""

    cut: int
    before: pd.DataFrame
    """Interactions with ``ts < cut``, one row per (user, movie): the first."""
    after: pd.DataFrame
    """Interactions with ``cut <= ts < end`` of (user, movie) pairs not in ``before``, time order."""

    @property
    def known_users(self) -> np.ndarray:
        """Users with an interaction before the cut: a model fitted on ``before`` knows them."""
        return np.unique(self.before["user_id"].to_numpy(np.int64))


def quantile_ts(frame: pd.DataFrame, quantile: float) -> int:
    """The timestamp below which ``quantile`` of the frame's interactions lie (e.g. 0.8)."""
    return int(np.quantile(frame["ts"].to_numpy(np.int64), quantile, method="lower")) + 1


def time_cut(frame: pd.DataFrame, cut: int, end: int | None = None) -> TimeCut:
    """Cut ``frame`` (user_id, movie_id, ts) at ``cut`` (epoch ms); ``end`` drops what comes later.

    A movie a user re-interacts with after the cut is not news: only first interactions count,
    so nothing after the cut repeats what training saw for that user.
    """
    ordered = order_in_history(frame).drop_duplicates(["user_id", "movie_id"], keep="first")
    ts = ordered["ts"].to_numpy(np.int64)
    later = ts >= cut
    if end is not None:
        ordered, later, ts = ordered[ts < end], later[ts < end], ts[ts < end]
    before = ordered[~later].reset_index(drop=True)
    after = ordered[later].sort_values(["ts", "user_id", "movie_id"], kind="stable").reset_index(drop=True)
    return TimeCut(cut=int(cut), before=before, after=after)


def runs(frame: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per user of ``frame``: (raw movie ids, timestamps), oldest first (ties by movie id)."""
    ordered = order_in_history(frame)
    users = ordered["user_id"].to_numpy(np.int64)
    movies, ts = ordered["movie_id"].to_numpy(np.int64), ordered["ts"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else np.empty(0, int)
    ends = np.r_[starts[1:], users.size]
    return {int(users[s]): (movies[s:e], ts[s:e]) for s, e in zip(starts, ends)}
