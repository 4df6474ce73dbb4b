"""Leave-last-out: the per-user split and the evaluation every model goes through (DESIGN.md section 6).

Split: per user, interactions in time order (ties by movie id; a repeated movie counts at its
first interaction); the last is the test item, the one before the validation item, the rest is
training. Users with fewer than 3 interactions keep everything in training and are not evaluated.

Evaluation of a held-out ``target`` ("validation" or "test"): the user's history is everything
before it (train, or train + validation). The held-out item is ranked against

- ``full``: every catalog item outside the history;
- ``sampled-100`` / ``sampled-1000``: that many items drawn (fixed seed, without replacement) from
  the same pool, as in the NCF paper's protocol.

Ranks break score ties by the lower item index, exactly as the models' top-K lists do, so
HR@K under ``full`` is the share of users whose held-out item is in the list they would be shown.
Each figure carries its 95% interval over users (``hr@k_ci``, ``ndcg@k_ci``); with one held-out
item Recall@K equals HR@K. Coverage, Gini and tail share describe those real top-K lists (history excluded), so they are
the same in every protocol's row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from tqdm.auto import tqdm

from models.base import Recommender, top_k
from models.interactions import IdMaps, dataset_stats, order_in_history, recency_matrix
from models.evaluation.stats import summarise
from models.metrics import catalog_coverage, exposure_counts, gini, hit_rate, long_tail_mask, ndcg, tail_share

Target = Literal["validation", "test"]
PROTOCOLS = ("full", "sampled-100", "sampled-1000")
"""Every protocol, in report order."""
MIN_INTERACTIONS = 3
SAMPLING_SEED = 20240601
"""Seed of the sampled protocols' negatives: the same candidates for every model."""
_CHUNK = 256


@dataclass(frozen=True)
class Split:
    """A leave-last-out split of one interaction frame (see the module docstring)."""

    maps: IdMaps
    """Ids of every user and movie of the frame (items seen only in test items included)."""
    train: pd.DataFrame
    """The training interactions (users with < 3 interactions keep all of theirs here)."""
    validation: pd.DataFrame
    """One row per evaluated user: the interaction before the last."""
    test: pd.DataFrame
    """One row per evaluated user: the last interaction."""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def frame(self, part: str) -> pd.DataFrame:
        """Interactions of ``train``, ``train+validation`` or ``all``."""
        parts = {"train": [self.train], "train+validation": [self.train, self.validation],
                 "all": [self.train, self.validation, self.test]}[part]
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def matrix(self, part: str) -> csr_matrix:
        """Recency-rank matrix (users x items, every id of the split) of a part; cached."""
        if part not in self._cache:
            self._cache[part] = recency_matrix(self.frame(part), self.maps)
        return self._cache[part]

    def history_part(self, target: Target) -> str:
        """The part a model may learn from when ``target`` is held out."""
        return {"validation": "train", "test": "train+validation"}[target]

    def targets(self, target: Target) -> tuple[np.ndarray, np.ndarray]:
        """Dense (user indexes, item indexes) of the held-out interactions, by user."""
        frame = {"validation": self.validation, "test": self.test}[target]
        return (self.maps.users.index_of(frame["user_id"].to_numpy()),
                self.maps.items.index_of(frame["movie_id"].to_numpy()))

    def stats(self) -> dict:
        """Users, items, interactions and density of the whole frame."""
        return dataset_stats(self.matrix("all"))


def leave_last_split(frame: pd.DataFrame, min_interactions: int = MIN_INTERACTIONS) -> Split:
    """Split a frame (columns user_id, movie_id, ts) per user by time; see the module docstring."""
    ordered = order_in_history(frame)
    ordered = ordered.drop_duplicates(["user_id", "movie_id"], keep="first").reset_index(drop=True)
    sizes = ordered.groupby("user_id", sort=False)["movie_id"].transform("size").to_numpy()
    from_end = ordered.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    evaluated = sizes >= min_interactions
    test = ordered[evaluated & (from_end == 0)].reset_index(drop=True)
    validation = ordered[evaluated & (from_end == 1)].reset_index(drop=True)
    train = ordered[~evaluated | (from_end >= 2)].reset_index(drop=True)
    return Split(maps=IdMaps.from_frame(ordered), train=train, validation=validation, test=test)


def _sample_negatives(pool_mask: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    pool = np.flatnonzero(pool_mask)
    if pool.size <= size:
        return pool
    return rng.choice(pool, size=size, replace=False)


def score_matrix(model: Recommender, users: np.ndarray, history: csr_matrix, fold_in: bool) -> np.ndarray:
    """Scores of ``users`` (copy, float32): from the model's own user state, or by fold-in."""
    if not fold_in:
        return np.array(model.score_users(users), dtype=np.float32, copy=True)
    rows = []
    for user in users:
        start, end = history.indptr[user], history.indptr[user + 1]
        items, ranks = history.indices[start:end].astype(np.int64), history.data[start:end]
        rows.append(model.score_history(items, ranks) if items.size else model._fitted_popularity())
    return np.array(rows, dtype=np.float32)


def per_user_gains(ranks: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per user, from the 0-based rank of their one held-out item: HR@k, Recall@k, NDCG@k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = (ranks < k).astype(np.float64)
    return {f"hr@{k}": hit, f"recall@{k}": hit, f"ndcg@{k}": np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)}


def _intervals(ranks: np.ndarray, k: int) -> dict[str, list[float]]:
    summary = summarise(per_user_gains(ranks, k))
    return {key: summary[key] for key in (f"hr@{k}_ci", f"ndcg@{k}_ci")}


def held_out_ranks(model: Recommender, split: Split, target: Target = "test", k: int = 10) -> np.ndarray:
    """Full-protocol rank of each evaluated user's held-out item (user order of ``split.targets``)."""
    return np.array(_ranks_and_lists(model, split, target, ("full",), k)[0]["full"])


def compare(ranks: dict[str, np.ndarray], baseline: str, k: int = 10) -> dict[str, dict]:
    """Per model: means, 95% intervals and paired differences against ``baseline`` (same users)."""
    base = per_user_gains(ranks[baseline], k)
    return {name: summarise(per_user_gains(r, k), None if name == baseline else base) for name, r in ranks.items()}


def _ranks_and_lists(
    model: Recommender, split: Split, target: Target, protocols: Sequence[str], k: int,
    model_name: str | None = None, fold_in: bool = False, progress: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray, csr_matrix]:
    """Held-out ranks per protocol, every user's top-k list, and the history matrix."""
    history = split.matrix(split.history_part(target))
    users, items = split.targets(target)
    n_items = history.shape[1]
    if (model.n_users, model.n_items) != history.shape:
        raise ValueError(f"model is {model.n_users} users x {model.n_items} items, the split {history.shape}")
    samples = {p: int(p.split("-")[1]) for p in protocols if p.startswith("sampled-")}
    unknown = set(protocols) - {"full"} - set(samples)
    if unknown:
        raise ValueError(f"unknown protocols {sorted(unknown)}; known: {PROTOCOLS}")
    rngs = {p: np.random.default_rng([SAMPLING_SEED, n]) for p, n in samples.items()}
    ranks = {p: np.empty(users.size, dtype=np.int64) for p in protocols}
    lists = np.full((users.size, k), -1, dtype=np.int64)
    index = np.arange(n_items)
    bar = tqdm(total=users.size, desc=f"evaluate {model_name or model.name} on {target}",
               disable=not progress, leave=False)
    for start in range(0, users.size, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        scores = score_matrix(model, users[chunk], history, fold_in)
        for row, (user, item) in enumerate(zip(users[chunk], items[chunk])):
            s = scores[row]
            seen = history.indices[history.indptr[user] : history.indptr[user + 1]]
            s[seen] = -np.inf
            pool = np.ones(n_items, dtype=bool)
            pool[seen] = False
            pool[item] = False
            target_score = s[item]
            beats = (s > target_score) | ((s == target_score) & (index < item))
            position = start + row
            if "full" in ranks:
                ranks["full"][position] = np.count_nonzero(beats & pool)
            for protocol, size in samples.items():
                negatives = _sample_negatives(pool, size, rngs[protocol])
                ranks[protocol][position] = np.count_nonzero(beats[negatives])
            best, _ = top_k(s, k)
            lists[position, : best.size] = best
        bar.update(scores.shape[0])
    bar.close()
    return ranks, lists, history


def evaluate(
    model: Recommender,
    split: Split,
    target: Target = "test",
    *,
    protocols: Sequence[str] = PROTOCOLS,
    k: int = 10,
    model_name: str | None = None,
    fold_in: bool = False,
    progress: bool = False,
) -> list[dict]:
    """Evaluate a fitted model on the held-out ``target``; one result dict per protocol.

    Each dict has ``model``, ``protocol``, ``hr@k``, ``ndcg@k`` (and their 95% ``_ci``), ``coverage@k``, ``gini@k`` and
    ``tail_share@k``. The model must have been fitted on ``split.matrix(split.history_part(target))``
    or a part of it (it must never have seen the target). With ``fold_in`` the users are scored
    from their history through :meth:`Recommender.score_history` instead of their fitted state.
    """
    ranks, lists, history = _ranks_and_lists(model, split, target, protocols, k, model_name, fold_in, progress)
    n_items = history.shape[1]
    popularity = np.diff(history.tocsc().indptr)
    beyond = {
        f"coverage@{k}": catalog_coverage(lists, n_items),
        f"gini@{k}": gini(exposure_counts(lists, n_items)),
        f"tail_share@{k}": tail_share(lists, long_tail_mask(popularity)),
    }
    return [
        {
            "model": model_name or model.name,
            "protocol": protocol,
            f"hr@{k}": hit_rate(ranks[protocol], k),
            f"ndcg@{k}": ndcg(ranks[protocol], k),
            **_intervals(ranks[protocol], k),
            **beyond,
        }
        for protocol in protocols
    ]
