"""Lexicographic top-k and rank over several score arrays, and the fold-in / trending blend."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def ranked_top_k(keys: Sequence[np.ndarray], k: int, allowed: np.ndarray) -> np.ndarray:
    """The ``k`` best allowed items, best first: by ``keys[0]``, ties by ``keys[1]``, ... then index.

    Later keys are the back-fill: items the first key cannot tell apart (an item-CF user with
    no neighbour of an item, a movie nobody watched lately) are ordered by the next one. Fewer
    than ``k`` items come back only when fewer are allowed.
    """
    candidates = np.flatnonzero(allowed)
    k = min(int(k), candidates.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    first = keys[0][candidates]
    if k < candidates.size:
        # every item tied with the k-th stays in the pool, so the later keys can order them
        threshold = np.partition(first, candidates.size - k)[candidates.size - k]
        candidates = candidates[first >= threshold]
    order = np.lexsort((candidates, *(-key[candidates] for key in reversed(keys))))[:k]
    return candidates[order].astype(np.int64)


def rank_of(keys: Sequence[np.ndarray], target: int, allowed: np.ndarray) -> np.ndarray:
    """0-based position of ``target`` in the order :func:`ranked_top_k` uses, among ``allowed``.

    A key may be 2-d (candidates x items), e.g. one blend per weight: the answer is then one
    rank per row, so a whole grid is ranked in one pass.
    """
    ahead: np.ndarray = np.zeros(1, dtype=bool)
    tied: np.ndarray = np.ones(1, dtype=bool)
    for key in keys:
        value = key[..., target : target + 1]
        ahead = ahead | (tied & (key > value))
        tied = tied & (key == value)
    ahead = ahead | (tied & (np.arange(allowed.size) < target))
    return np.count_nonzero(ahead & allowed, axis=-1)


def normalise(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``scores`` mapped to [0, 1] by their range over the allowed items (all 0 when flat).

    Fold-in scores and decayed counts live on unrelated scales; only the allowed items count,
    so a seen movie's huge score does not squash the rest.
    """
    values = scores[allowed]
    if not values.size:
        return np.zeros(scores.shape, dtype=np.float64)
    low, span = float(values.min()), float(values.max() - values.min())
    if span <= 0:
        return np.zeros(scores.shape, dtype=np.float64)
    return (np.asarray(scores, dtype=np.float64) - low) / span


def blend(
    fold_in: np.ndarray, trending: np.ndarray, weight: float | np.ndarray, allowed: np.ndarray
) -> np.ndarray:
    """``w * normalised fold-in + (1 - w) * normalised trending``; an array of ``w`` gives one row each."""
    weight = np.asarray(weight, dtype=np.float64)[..., None]
    return weight * normalise(fold_in, allowed) + (1.0 - weight) * normalise(trending, allowed)
