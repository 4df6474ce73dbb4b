"""The re-ranking steps: popularity penalty, genre MMR, long-tail quota and Thompson exploration."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.rerank.base import DEFAULT_DEPTH, Candidates, Context, by_score, minmax


@dataclass(frozen=True)
class PopularityPenalty:
    """Score = normalised score - beta x normalised log popularity (training interactions).

    Both terms are in [0, 1] (scores by min-max over the candidates, popularity by
    log(1 + n) over the catalog's most popular), so ``beta`` means the same for every model.
    """

    beta: float
    depth: int = DEFAULT_DEPTH

    def __call__(self, candidates: Candidates, k: int, context: Context) -> Candidates:
        if not len(candidates):
            return candidates
        adjusted = minmax(candidates.scores) - self.beta * context.popularity(candidates.movie_ids)
        order = by_score(adjusted)
        return Candidates(candidates.movie_ids[order], adjusted[order])


def genre_similarity(candidates: Candidates, context: Context) -> np.ndarray:
    """Jaccard similarity of the candidates' genre sets (0 for a movie without genres)."""
    sets = [context.genres.of(int(m)) for m in candidates.movie_ids]
    names = sorted(set().union(*sets)) if sets else []
    column = {name: i for i, name in enumerate(names)}
    onehot = np.zeros((len(sets), len(names)))
    for row, genres in enumerate(sets):
        onehot[row, [column[g] for g in genres]] = 1.0
    inter = onehot @ onehot.T
    sizes = onehot.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class GenreMMR:
    """Maximal marginal relevance by genre: pick by (1 - lambda) x relevance - lambda x max similarity.

    Relevance is the min-max normalised score; similarity the Jaccard of genre sets to the
    movies already picked. ``lambda`` 0 keeps the order, 1 picks for genre novelty alone.
    The first ``k`` are chosen greedily, the rest follow in their order.
    """

    lam: float
    depth: int = DEFAULT_DEPTH

    def __call__(self, candidates: Candidates, k: int, context: Context) -> Candidates:
        n = len(candidates)
        if n < 2:
            return candidates
        relevance = (1.0 - self.lam) * minmax(candidates.scores)
        similarity = genre_similarity(candidates, context)
        picked: list[int] = []
        closest = np.zeros(n)
        free = np.ones(n, dtype=bool)
        for _ in range(min(k, n)):
            value = np.where(free, relevance - self.lam * closest, -np.inf)
            best = int(np.argmax(value))  # first of equals: the earlier candidate
            picked.append(best)
            free[best] = False
            closest = np.maximum(closest, similarity[best])
        order = np.concatenate([np.array(picked, dtype=np.int64), np.flatnonzero(free)])
        return candidates.take(order)


@dataclass(frozen=True)
class TailQuota:
    """At least ``q`` of the first ``k`` from the long tail (as far as the candidates allow).

    The lowest-placed head movies of the first ``k`` give way to the best-placed tail movies
    after it; the first ``k`` keep their relative order, so promoted movies come last.
    """

    q: int
    depth: int = DEFAULT_DEPTH

    def __call__(self, candidates: Candidates, k: int, context: Context) -> Candidates:
        k = min(k, len(candidates))
        tail = context.is_tail(candidates.movie_ids)
        missing = min(self.q, k) - int(tail[:k].sum())
        if missing <= 0:
            return candidates
        promoted = np.flatnonzero(tail[k:])[:missing] + k
        dropped = np.flatnonzero(~tail[:k])[::-1][: promoted.size]
        top = np.setdiff1d(np.arange(k), dropped)  # sorted: the order they had
        rest = np.setdiff1d(np.arange(k, len(candidates)), promoted)
        order = np.concatenate([top, promoted, np.sort(dropped), rest])
        return candidates.take(order)


@dataclass(frozen=True)
class Explore:
    """The last ``slots`` of the first ``k`` go to tail candidates chosen by Thompson sampling.

    Each tail candidate outside the kept ``k - slots`` gets a draw from its conversion
    posterior; the highest draws take the slots. A movie never shown draws from the prior, so
    it earns exposure by chance at first and by its conversions after. Without enough tail
    candidates the slots fall back to the next movies in order.
    """

    slots: int
    depth: int = DEFAULT_DEPTH

    def __call__(self, candidates: Candidates, k: int, context: Context) -> Candidates:
        k = min(k, len(candidates))
        keep = max(k - self.slots, 0)
        after = np.arange(keep, len(candidates))
        pool = after[context.is_tail(candidates.movie_ids[after])]
        if not pool.size or keep == k:
            return candidates
        draws = context.sampler.draw(candidates.movie_ids[pool], context.rng)
        chosen = pool[by_score(draws)[: k - keep]]
        rest = np.ones(len(candidates), dtype=bool)
        rest[:keep] = False
        rest[chosen] = False
        return candidates.take(np.concatenate([np.arange(keep), chosen, np.flatnonzero(rest)]))


@dataclass(frozen=True)
class Chain:
    """Steps applied in turn; candidates scored per slot is the deepest step's ``depth``."""

    steps: tuple

    @property
    def depth(self) -> int:
        return max((step.depth for step in self.steps), default=DEFAULT_DEPTH)

    def __call__(self, candidates: Candidates, k: int, context: Context) -> Candidates:
        for step in self.steps:
            candidates = step(candidates, k, context)
        return candidates
