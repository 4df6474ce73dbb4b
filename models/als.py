"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) on the CPU model of the ``implicit`` library."""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
from pydantic import Field
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from models.base import Params, Recommender
from models.interactions import recency_weights


class ALSParams(Params):
    """Hyperparameters of ALS. The confidence of an interaction is
    ``1 + alpha * weight``, where weight is its BM25 weight (or 1) times its recency weight."""

    factors: int = Field(32, ge=1)
    """Latent factors per user and item."""
    regularization: float = Field(10.0, ge=0)
    """L2 penalty on the factors (implicit's ``regularization``, not scaled by counts)."""
    alpha: float = Field(10.0, ge=0)
    """How much more an observed interaction counts than a missing one."""
    iterations: int = Field(15, ge=1)
    """Alternating sweeps over users and items."""
    weighting: Literal["none", "bm25"] = "bm25"
    """``bm25`` damps popular items and heavy users (implicit's ``bm25_weight`` with items as
    documents); ``none`` weighs every interaction the same."""
    bm25_k1: float = Field(100.0, gt=0)
    """BM25 saturation ``K1``."""
    bm25_b: float = Field(0.8, ge=0, le=1)
    """BM25 length normalisation ``B``."""
    recency_half_life: Optional[float] = Field(3.0, gt=0)
    """When set, an interaction ``r`` steps back in the user's history weighs
    ``0.5 ** ((r - 1) / half_life)``; None weighs the whole history equally."""
    num_threads: int = Field(1, ge=0)
    """Threads implicit uses (0 = all cores). 1 keeps a 2-core machine responsive."""
    seed: int = 0
    """Seed of the factor initialisation."""


class ALS(Recommender):
    """Scores are dot products of user and item factors; new users are folded in by implicit's
    ``recalculate_user`` (one exact least-squares solve against the fixed item factors)."""

    name = "als"
    Params = ALSParams

    _als = None
    item_length_norm: np.ndarray | None = None

    def _new_implicit_model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        # confidences are built here (1 + alpha * weight), so implicit's own alpha stays 1
        with threadpool_limits(1, "blas"):  # implicit warns at construction when BLAS is threaded
            return AlternatingLeastSquares(
                factors=p.factors, regularization=p.regularization, alpha=1.0, iterations=p.iterations,
                num_threads=p.num_threads, random_state=p.seed, dtype=np.float32,
            )

    def _confidence(self, rows: csr_matrix) -> csr_matrix:
        """Confidence matrix of user rows whose values are recency ranks."""
        p = self.params
        weights = recency_weights(rows.data, p.recency_half_life)
        if p.weighting == "bm25":
            per_user = np.diff(rows.indptr)
            user_of_entry = np.repeat(np.arange(rows.shape[0]), per_user)
            idf = np.log(np.float32(rows.shape[1])) - np.log1p(per_user.astype(np.float32))
            norm = self.item_length_norm[rows.indices]
            weights = weights * (p.bm25_k1 + 1.0) / (p.bm25_k1 * norm + 1.0) * idf[user_of_entry]
        data = (1.0 + p.alpha * weights).astype(np.float32)
        return csr_matrix((data, rows.indices.copy(), rows.indptr.copy()), shape=rows.shape)

    def _fit(self, matrix: csr_matrix, *, progress: bool) -> None:
        counts = self._fitted_popularity()
        mean = counts.mean() if counts.size else 1.0
        self.item_length_norm = ((1.0 - self.params.bm25_b) + self.params.bm25_b * counts / max(mean, 1e-9)).astype(np.float32)
        self._als = self._new_implicit_model()
        with threadpool_limits(1, "blas"):
            self._als.fit(self._confidence(matrix), show_progress=progress)

    def score_users(self, user_indexes: np.ndarray) -> np.ndarray:
        return self._als.user_factors[user_indexes] @ self._als.item_factors.T

    def fold_in(self, item_indexes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Factors of a new user from a history, through implicit's ``recalculate_user``."""
        order = np.argsort(item_indexes)
        row = csr_matrix((np.asarray(ranks, np.float32)[order], np.asarray(item_indexes)[order],
                          np.array([0, len(item_indexes)])), shape=(1, self.n_items))
        return self._als.recalculate_user(0, self._confidence(row))

    def score_history(self, item_indexes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        return self._als.item_factors @ self.fold_in(item_indexes, ranks)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self._als.user_factors, "item_factors": self._als.item_factors,
                "item_length_norm": self.item_length_norm}

    def _restore(self, arrays: dict[str, np.ndarray], directory) -> None:
        self._als = self._new_implicit_model()
        self._als.user_factors = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self._als.item_factors = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self.item_length_norm = arrays["item_length_norm"]

