"""Choose the serving policy on validation data: the trending half-life, then the fold-in blend weights.

Half-life: every evaluated user's validation item (DESIGN.md section 6) is ranked, against every
movie outside the user's training items, by trending counts of all train and validation
interactions strictly before it, for each half-life of a grid; all-time counts are the
``None`` entry.

Blend weights: a random share of users is held out of the model entirely (the model is fitted
on the other users' training part); each held-out user's first ``n`` train/validation
interactions are revealed as a history and the next one is the target, for every ``n`` up to
:data:`MAX_HISTORY`. Per history-length bucket, the weight of a grid that ranks the target best
wins. Ranks come from exactly the keys :func:`models.serving.policy.recommend` sorts by.

Test items never enter: not as targets, not in the trending counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from models.base import Recommender, distinct_history
from models.bundle import ModelBundle
from models.evaluation import Split, Target, leave_last_split
from models.factory import create_model, model_class
from models.interactions import IdMap, IdMaps, order_in_history, recency_matrix
from models.metrics import hit_rate, ndcg
from models.serving.config import HISTORY_BUCKETS, PolicyConfig, bucket_of
from models.serving.ranking import blend, rank_of
from models.trending import TrendingCounts

HALF_LIVES_DAYS: tuple[Optional[float], ...] = (1.0, 3.0, 7.0, 14.0, 30.0, 60.0, 120.0, 365.0, None)
"""Trending half-lives tried; None is all-time counts."""
BLEND_WEIGHTS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
"""Fold-in weights tried per history-length bucket: 0 is pure trending, 1 pure fold-in."""
NEW_USER_SHARE = 0.15
"""Share of users held out of the model to play new users."""
MAX_HISTORY = 40
"""Longest revealed history of a new user; longer ones fall in the last bucket anyway."""
TUNING_EVENTS = "train+validation"
"""The interactions trending counts are replayed from while tuning: never the test items."""
K = 10
SELECTION_METRIC = "ndcg@10"
"""What tuning maximises (the trainer's choice too), on the full protocol."""


@dataclass(frozen=True)
class Query:
    """One prediction asked at a moment: the history shown (item indexes, oldest first), the next item."""

    ts: int
    user: int
    history: np.ndarray
    target: int


@dataclass(frozen=True)
class PolicyTuning:
    """The chosen policy and the validation figures behind it; :meth:`card` goes in the model card."""

    config: PolicyConfig
    half_life_log: list[dict]
    """Per half-life: validation ``hr@10`` / ``ndcg@10`` of trending alone."""
    blend_log: list[dict]
    """Per history bucket and weight: new-user validation ``hr@10`` / ``ndcg@10`` and query count."""

    def card(self) -> dict[str, Any]:
        """JSON-ready summary: the config, what chose it and every candidate's figures."""
        return {
            "config": self.config.model_dump(mode="json"),
            "selection_metric": f"validation {SELECTION_METRIC} (full)",
            "half_life": self.half_life_log,
            "blend": self.blend_log,
        }


def _user_runs(frame: pd.DataFrame, maps: IdMaps) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Per user of ``frame``: (user index, item indexes, timestamps), oldest first."""
    ordered = order_in_history(frame)
    users = maps.users.index_of(ordered["user_id"].to_numpy())
    items = maps.items.index_of(ordered["movie_id"].to_numpy())
    ts = ordered["ts"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], users.size]):
        yield int(users[start]), items[start:end], ts[start:end]


def held_out_queries(split: Split, target: Target) -> list[Query]:
    """One query per evaluated user: the history before the held-out ``target``, and the target."""
    held = {"validation": split.validation, "test": split.test}[target]
    users, targets = split.targets(target)
    target_of = dict(zip(users.tolist(), zip(targets.tolist(), held["ts"].tolist())))
    return [
        Query(ts=target_of[user][1], user=user, history=items, target=target_of[user][0])
        for user, items, _ in _user_runs(split.frame(split.history_part(target)), split.maps)
        if user in target_of
    ]


def new_user_queries(split: Split, user_ids: np.ndarray, max_history: int = MAX_HISTORY) -> list[Query]:
    """Every next-item prediction of a held-out user from their first 1..``max_history`` interactions."""
    frame = split.frame("train+validation")
    runs = _user_runs(frame[frame["user_id"].isin(user_ids)], split.maps)
    return [
        Query(ts=int(ts[n]), user=user, history=items[:n], target=int(items[n]))
        for user, items, ts in runs
        for n in range(1, min(items.size - 1, max_history) + 1)
    ]


def new_users(split: Split, seed: int, share: float = NEW_USER_SHARE) -> np.ndarray:
    """Raw ids of a random ``share`` of the users, to be kept out of the model as new users."""
    users = split.maps.users.raw
    return np.sort(np.random.default_rng(seed).choice(users, size=max(1, round(share * users.size)), replace=False))


def fit_without(
    model_name: str, params: dict[str, Any], split: Split, part: str, user_ids: np.ndarray
) -> ModelBundle:
    """A model of ``part`` of the split that never met ``user_ids``: to it they are new users.

    The movie map is the split's, so item indexes mean the same in both.
    """
    frame = split.frame(part)
    maps = IdMaps(users=IdMap(np.setdiff1d(split.maps.users.raw, user_ids)), items=split.maps.items)
    model = create_model(model_name, params).fit(recency_matrix(frame[~frame["user_id"].isin(user_ids)], maps))
    return ModelBundle(model, maps)


def replay(events: pd.DataFrame, queries: Sequence[Query], trending: TrendingCounts) -> Iterator[Query]:
    """``queries`` in time order, ``trending`` having counted every event strictly before each one."""
    events = events.sort_values("ts", kind="stable")
    movie_ids, ts = events["movie_id"].to_numpy(np.int64), events["ts"].to_numpy(np.int64)
    counted = 0
    for query in sorted(queries, key=lambda q: q.ts):
        until = int(np.searchsorted(ts, query.ts, side="left"))
        trending.update_many(movie_ids[counted:until], ts[counted:until])
        counted = until
        yield query


def _allowed(n_items: int, history: np.ndarray) -> np.ndarray:
    allowed = np.ones(n_items, dtype=bool)
    allowed[history] = False
    return allowed


def _figures(ranks: np.ndarray) -> dict[str, float]:
    return {f"hr@{K}": hit_rate(ranks, K), f"ndcg@{K}": ndcg(ranks, K)}


def trending_ranks(split: Split, queries: Sequence[Query], half_life_days: Optional[float]) -> np.ndarray:
    """Rank of each query's target (in time order) by trending counts of what came before it."""
    trending = TrendingCounts(half_life_days, split.maps.items.raw)  # slot i is item index i
    n_items = len(split.maps.items)
    return np.array([
        rank_of((trending.scores(q.ts),), q.target, _allowed(n_items, q.history))
        for q in replay(split.frame(TUNING_EVENTS), queries, trending)
    ], dtype=np.int64)


def tune_half_life(
    split: Split, grid: Sequence[Optional[float]] = HALF_LIVES_DAYS
) -> tuple[Optional[float], list[dict]]:
    """The half-life whose trending best ranks the validation items, and every candidate's figures."""
    queries = held_out_queries(split, "validation")
    log = [{"half_life_days": h, **_figures(trending_ranks(split, queries, h))} for h in grid]
    best = max(log, key=lambda row: row[SELECTION_METRIC])  # first of equals: the shorter half-life
    return best["half_life_days"], log


def blend_ranks(
    model: Recommender, split: Split, queries: Sequence[Query], half_life_days: Optional[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(ranks: queries x :data:`BLEND_WEIGHTS`, history lengths) of new-user queries in time order."""
    trending = TrendingCounts(half_life_days, split.maps.items.raw)
    n_items = len(split.maps.items)
    ranks, lengths = [], []
    for query in replay(split.frame(TUNING_EVENTS), queries, trending):
        items, recency = distinct_history(query.history)
        allowed = _allowed(n_items, items)
        trend = trending.scores(query.ts)
        mixed = blend(model.score_history(items, recency), trend, np.asarray(BLEND_WEIGHTS), allowed)
        ranks.append(rank_of((mixed, trend, model.popularity), query.target, allowed))
        lengths.append(items.size)
    return np.array(ranks, dtype=np.int64).reshape(-1, len(BLEND_WEIGHTS)), np.array(lengths, dtype=np.int64)


def tune_blend(
    model: Recommender, split: Split, queries: Sequence[Query], half_life_days: Optional[float]
) -> tuple[tuple[float, ...], list[dict]]:
    """Per history bucket, the fold-in weight that best ranks the new users' next items; and the log."""
    ranks, lengths = blend_ranks(model, split, queries, half_life_days)
    in_bucket = bucket_of(lengths)
    chosen, log = [], []
    for bucket, low in enumerate(HISTORY_BUCKETS):
        rows = [{"bucket": low, "weight": w, "queries": int(np.count_nonzero(in_bucket == bucket)),
                 **_figures(ranks[in_bucket == bucket, j])} for j, w in enumerate(BLEND_WEIGHTS)]
        log.extend(rows)
        # ties (an empty bucket included) go to the highest weight: fold-in, the untuned behaviour
        chosen.append(max(reversed(rows), key=lambda row: row[SELECTION_METRIC])["weight"])
    return tuple(chosen), log


def tune_policy(
    frame: pd.DataFrame,
    model_name: str,
    seed: int = 0,
    *,
    params: Optional[dict[str, Any]] = None,
    split: Optional[Split] = None,
) -> PolicyTuning:
    """Tune the serving policy of ``model_name`` on ``frame``'s validation data (module docstring).

    ``params`` are the model's (the trainer's chosen ones; defaults otherwise), ``seed`` picks
    the held-out new users and seeds the model; a precomputed ``split`` of ``frame`` may be passed.
    """
    split = split if split is not None else leave_last_split(frame)
    params = dict(params or {})
    if "seed" in model_class(model_name).Params.model_fields:
        params.setdefault("seed", seed)
    half_life, half_life_log = tune_half_life(split)
    held_out = new_users(split, seed)
    model = fit_without(model_name, params, split, "train", held_out).model
    weights, blend_log = tune_blend(model, split, new_user_queries(split, held_out), half_life)
    config = PolicyConfig(trending_half_life_days=half_life, fold_in_weights=weights)
    return PolicyTuning(config=config, half_life_log=half_life_log, blend_log=blend_log)
