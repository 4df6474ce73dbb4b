"""The feedback loop offline: each simulated day users get lists, watch by true taste, and the model learns from that.

True taste comes from an ALS model fitted on ALL interactions (data the recommender never
sees): a user's standardised truth score ``z`` of a movie gives the chance of watching it
when shown at position ``r``: ``sigmoid(steepness x (z - threshold)) / log2(r + 2)``. The
recommender starts from each user's first ``seed_items`` interactions only and is refitted
every ``retrain_every`` days on everything watched so far, so whatever it shows it learns
to show again: the echo chamber. Every strategy (no mitigation, each re-ranker,
exploration) runs the same days with the same random draws.

Per day: NDCG@10 against true taste (graded by the true watch chance, against the user's
ideal unseen top 10), and over the day's lists coverage, Gini over the whole catalog, tail
share and the head tier's amplification, the tiers from the interactions the serving model
was trained on (DESIGN.md section 6: from training interactions, never from exposure); and
``training_gini``, the Gini of those training interactions over the catalog: the loop's
memory, which concentrates when the system only learns from what it chose to show.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from models.factory import create_model
from models.fairness.exposure import Catalog, summarise
from models.metrics import gini
from models.rerank import Candidates, Context, GenreProvider, ThompsonSampler, parse

DEFAULT_STRATEGIES = (
    "none",
    "popularity_penalty:beta=0.5,depth=10",
    "mmr:lambda=0.3,depth=10",
    "tail_quota:q=3,depth=10",
    "explore:slots=2,depth=50",
    "popularity_penalty:beta=0.3|explore:slots=2,depth=50",
)
K = 10


@dataclass(frozen=True)
class SimulationConfig:
    """Size and behaviour of one simulation run."""

    days: int = 30
    retrain_every: int = 3
    seed_items: int = 5
    """Interactions per user the recommender knows at the start (the first, in time order)."""
    steepness: float = 2.0
    threshold: float = 2.5
    """Truth z-score at which a movie shown first is watched half the time."""
    truth_factors: int = 64
    model: str = "als"
    seed: int = 0


def _matrix(pairs: np.ndarray, shape: tuple[int, int]) -> csr_matrix:
    m = csr_matrix((np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])), shape=shape)
    m.data[:] = 1.0
    return m


def true_watch_chance(frame: pd.DataFrame, users: np.ndarray, items: np.ndarray, config: SimulationConfig) -> np.ndarray:
    """Users x items chance of watching when shown first, from a model fitted on every interaction."""
    pairs = np.column_stack([np.searchsorted(users, frame["user_id"]), np.searchsorted(items, frame["movie_id"])])
    truth = create_model("als", {"factors": config.truth_factors, "seed": config.seed + 1})
    truth.fit(_matrix(pairs, (users.size, items.size)))
    scores = truth.score_users(np.arange(users.size)).astype(np.float64)
    z = (scores - scores.mean(axis=1, keepdims=True)) / (scores.std(axis=1, keepdims=True) + 1e-9)
    return 1.0 / (1.0 + np.exp(-config.steepness * (z - config.threshold)))


def _ndcg_against_truth(lists: np.ndarray, chance: np.ndarray, seen: csr_matrix) -> np.ndarray:
    """Per user: DCG of the list graded by true chance over the DCG of the ideal unseen top k."""
    discount = 1.0 / np.log2(np.arange(K) + 2.0)
    truth = chance.copy()
    rows, cols = seen.nonzero()
    truth[rows, cols] = -np.inf
    ideal = -np.sort(-truth, axis=1)[:, :K]
    ideal_dcg = (np.where(np.isfinite(ideal), ideal, 0.0) * discount).sum(axis=1)
    gains = np.take_along_axis(chance, np.maximum(lists, 0), axis=1) * (lists >= 0)
    return (gains * discount).sum(axis=1) / np.maximum(ideal_dcg, 1e-12)


def _candidates(scores: np.ndarray, seen: csr_matrix, pool: int) -> tuple[np.ndarray, np.ndarray]:
    scores = scores.copy()
    rows, cols = seen.nonzero()
    scores[rows, cols] = -np.inf
    pool = min(pool, scores.shape[1])
    part = np.argpartition(-scores, pool - 1, axis=1)[:, :pool]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    return best, np.take_along_axis(scores, best, axis=1)


def simulate_strategy(spec: str, chance: np.ndarray, seed_pairs: np.ndarray, genres: GenreProvider,
                      config: SimulationConfig) -> list[dict]:
    """One strategy over ``config.days`` days; one dict of figures per day."""
    n_users, n_items = chance.shape
    reranker = parse(spec)
    depth = reranker.depth if reranker else 1
    rng = np.random.default_rng(config.seed)  # the same draws for every strategy
    log = _matrix(seed_pairs, (n_users, n_items)).tolil()
    sampler = ThompsonSampler()
    days, model, context = [], None, None
    position = 1.0 / np.log2(np.arange(K) + 2.0)
    for day in range(config.days):
        seen = log.tocsr()
        if day % config.retrain_every == 0 or model is None:
            model = create_model(config.model, {"seed": config.seed}).fit(seen)
            popularity = np.asarray(seen.sum(axis=0)).ravel().astype(np.float64)
            tiers = Catalog(np.arange(n_items), popularity)
            context = Context(tiers, genres, sampler, np.random.default_rng([config.seed, day]))
        cands, scores = _candidates(model.score_users(np.arange(n_users)), seen, K * depth)
        lists = np.full((n_users, K), -1, dtype=np.int64)
        for user in range(n_users):
            valid = np.isfinite(scores[user])
            ranked = Candidates.of(cands[user][valid], scores[user][valid])
            if reranker is not None:
                ranked = reranker(ranked, K, context)
            top = ranked.movie_ids[:K]
            lists[user, : top.size] = top
        shown = lists >= 0
        p = np.take_along_axis(chance, np.maximum(lists, 0), axis=1) * position * shown
        watched = (rng.random(lists.shape) < p) & shown
        for user, slot in zip(*np.nonzero(watched)):
            log[user, lists[user, slot]] = 1.0
            sampler.convert(int(lists[user, slot]))
        sampler.expose(lists[shown].tolist())
        figures = summarise(tiers.counts(lists[shown][:, None]), tiers, n_users)
        days.append({
            "day": day + 1, "ndcg@10": float(_ndcg_against_truth(lists, chance, seen).mean()),
            "watches_per_list": float(watched.sum() / n_users), "coverage": figures.coverage,
            "gini": figures.gini, "tail_share": figures.tail_share,
            "amplification_head": figures.amplification["head"], "training_gini": gini(tiers.popularity),
        })
    return days


def run_closed_loop(frame: pd.DataFrame, catalog: pd.DataFrame, config: SimulationConfig,
                    strategies: Sequence[str] = DEFAULT_STRATEGIES) -> dict[str, list[dict]]:
    """Every strategy's days on the same simulated users; strategy spec -> per-day figures."""
    users = np.unique(frame["user_id"].to_numpy())
    items = np.unique(frame["movie_id"].to_numpy())
    chance = true_watch_chance(frame, users, items, config)
    ordered = frame.sort_values(["user_id", "ts", "movie_id"], kind="stable")
    first = ordered.groupby("user_id", sort=False).head(config.seed_items)
    seed_pairs = np.column_stack([np.searchsorted(users, first["user_id"]), np.searchsorted(items, first["movie_id"])])
    movie_genres = GenreProvider.from_catalog(catalog)
    genres = GenreProvider(lambda index: movie_genres.of(int(items[index])))
    return {spec: simulate_strategy(spec, chance, seed_pairs, genres, config) for spec in strategies}


def final_table(results: Mapping[str, list[dict]], last_days: int = 7) -> list[dict]:
    """Per strategy: day-1 figures and the mean over the last ``last_days`` days."""
    rows = []
    for spec, days in results.items():
        tail = days[-last_days:]
        rows.append({"strategy": spec, "first_day": days[0],
                     "last_days": {key: float(np.mean([d[key] for d in tail])) for key in days[0] if key != "day"}})
    return rows
