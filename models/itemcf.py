"""Item-based collaborative filtering: sparse top-N cosine neighbours of every item."""
from __future__ import annotations

from typing import Optional

import numpy as np
from pydantic import Field
from scipy.sparse import csr_matrix, diags

from models.base import Params, Recommender
from models.interactions import recency_weights


class ItemCFParams(Params):
    """Hyperparameters of item-based CF."""

    neighbours: int = Field(20, ge=1)
    """Most similar items kept per item; the rest of the similarity row is dropped (sparse)."""
    shrink: float = Field(0.0, ge=0)
    """Shrinkage of the cosine: ``dot / (|a| |b| + shrink)`` damps pairs seen by few users."""
    user_weighting: bool = True
    """Weight each user's co-occurrences by ``1 / log2(1 + items of the user)``, so heavy users
    (who co-rate almost everything) count less in the similarity."""
    recency_half_life: Optional[float] = Field(2.0, gt=0)
    """When set, a history item ``r`` interactions back weighs ``0.5 ** ((r - 1) / half_life)``
    in a user's score; None weighs the whole history equally."""


class ItemCF(Recommender):
    """Score of item j for a user = sum over the user's items i of sim(i, j), i's top-N only."""

    name = "itemcf"
    Params = ItemCFParams

    similarity: csr_matrix | None = None

    def _fit(self, matrix: csr_matrix, *, progress: bool) -> None:
        binary = matrix.copy()
        binary.data[:] = 1.0
        if self.params.user_weighting:
            per_user = np.diff(binary.indptr).astype(np.float32)
            binary = diags(1.0 / np.sqrt(np.log2(1.0 + np.maximum(per_user, 1.0)))) @ binary
        items_users = binary.T.tocsr().astype(np.float32)
        dots = (items_users @ items_users.T).tocsr()
        dots.setdiag(0.0)
        dots.eliminate_zeros()
        norms = np.sqrt(np.asarray(items_users.multiply(items_users).sum(axis=1)).ravel()).astype(np.float32)
        coo = dots.tocoo()
        values = coo.data / (norms[coo.row] * norms[coo.col] + np.float32(self.params.shrink))
        self.similarity = _keep_top_per_row(coo.row, coo.col, values.astype(np.float32), dots.shape,
                                            self.params.neighbours)

    def _user_weights(self, ranks: np.ndarray) -> np.ndarray:
        return recency_weights(ranks, self.params.recency_half_life)

    def score_users(self, user_indexes: np.ndarray) -> np.ndarray:
        rows = self._fitted_matrix()[user_indexes]
        rows = csr_matrix((self._user_weights(rows.data), rows.indices, rows.indptr), shape=rows.shape)
        return np.asarray((rows @ self.similarity).todense(), dtype=np.float32)

    def score_history(self, item_indexes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        weights = self._user_weights(ranks)
        block = self.similarity[item_indexes]
        return np.asarray(block.T @ weights, dtype=np.float32).ravel()

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"sim_indptr": s.indptr.astype(np.int64), "sim_indices": s.indices.astype(np.int64),
                "sim_data": s.data.astype(np.float32)}

    def _restore(self, arrays: dict[str, np.ndarray], directory) -> None:
        n = self.n_items
        self.similarity = csr_matrix((arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n))


def _keep_top_per_row(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape, n: int) -> csr_matrix:
    """CSR matrix with only the ``n`` largest values of each row (ties: lower column first)."""
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, np.arange(shape[0]))
    position = np.arange(rows.size) - starts[rows]
    keep = position < n
    matrix = csr_matrix((values[keep], (rows[keep], cols[keep])), shape=shape)
    matrix.sort_indices()
    return matrix
