"""Re-rankers evaluated offline: each user's re-ranked top-k, its NDCG@k and the exposure it makes.

The candidates are the model's best ``k x depth`` unseen movies (what serving scores); the
held-out item's rank is its place in the re-ranked list, so with no re-ranker HR/NDCG@k are
exactly :func:`models.evaluation.evaluate`'s full-protocol figures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.base import Recommender, top_k
from models.evaluation import Split, Target, score_matrix
from models.fairness.exposure import Catalog, summarise
from models.metrics import hit_rate, ndcg
from models.rerank import Candidates, Context, GenreProvider, ThompsonSampler
from models.rerank.base import DEFAULT_DEPTH, Reranker

_CHUNK = 256


@dataclass(frozen=True)
class Scored:
    """Every evaluated user's candidates, best first (dense item indexes), and the held-out item."""

    candidates: np.ndarray
    scores: np.ndarray
    targets: np.ndarray
    catalog: Catalog
    """Dense item indexes as ids, popularity = interactions of the model's training matrix."""


def score_candidates(model: Recommender, split: Split, target: Target, depth: int, k: int = 10) -> Scored:
    """The model's best ``k x depth`` unseen items per evaluated user (history of ``target``)."""
    history = split.matrix(split.history_part(target))
    users, items = split.targets(target)
    pool = k * depth
    candidates = np.full((users.size, pool), -1, dtype=np.int64)
    scores = np.full((users.size, pool), -np.inf)
    for start in range(0, users.size, _CHUNK):
        block = score_matrix(model, users[start:start + _CHUNK], history, fold_in=False)
        for row, user in enumerate(users[start:start + _CHUNK]):
            seen = history.indices[history.indptr[user]:history.indptr[user + 1]]
            best, best_scores = top_k(block[row], pool, seen)
            candidates[start + row, :best.size] = best
            scores[start + row, :best.size] = best_scores
    popularity = np.diff(history.tocsc().indptr).astype(np.float64)
    return Scored(candidates, scores, items, Catalog(np.arange(history.shape[1]), popularity))


def rerank_all(scored: Scored, reranker: Reranker | None, genres: GenreProvider, k: int = 10,
               seed: int = 0, depth: int | None = None) -> np.ndarray:
    """Each user's top-k after ``reranker`` on their first ``k x depth`` candidates (-1 pads).

    Users are served in turn and every list's movies count as trials of the exploration
    sampler, as the exposure stream feeds it live; no conversion is known offline, so a
    movie shown often without evidence draws lower than one never shown.
    """
    depth = depth or (reranker.depth if reranker else DEFAULT_DEPTH)
    context = Context(scored.catalog, genres, ThompsonSampler(), np.random.default_rng(seed))
    lists = np.full((scored.candidates.shape[0], k), -1, dtype=np.int64)
    for row in range(scored.candidates.shape[0]):
        valid = scored.candidates[row, : k * depth] >= 0
        cands = Candidates.of(scored.candidates[row, : k * depth][valid], scored.scores[row, : k * depth][valid])
        if reranker is not None:
            cands = reranker(cands, k, context)
        top = cands.movie_ids[:k]
        lists[row, : top.size] = top
        context.sampler.expose(top)
    return lists


def list_quality(lists: np.ndarray, targets: np.ndarray, catalog: Catalog, k: int = 10) -> dict[str, float]:
    """HR@k, NDCG@k with its 95% normal-approximation half-width over users, and the lists' exposure figures."""
    hit = lists == targets[:, None]
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1), k)
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    summary = summarise(catalog.counts(lists[lists >= 0][:, None]), catalog, lists.shape[0])
    half = 1.96 * float(gains.std(ddof=1)) / np.sqrt(gains.size) if gains.size > 1 else 0.0
    return {
        f"hr@{k}": hit_rate(ranks, k), f"ndcg@{k}": ndcg(ranks, k), f"ndcg@{k}_ci95": half,
        "coverage": summary.coverage, "gini": summary.gini, "tail_share": summary.tail_share,
        "amplification_head": summary.amplification["head"],
    }
