"""Id maps between raw user/movie ids and dense indexes, and the user x item interaction matrix."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

IDS_FILE = "ids.npz"


@dataclass(frozen=True)
class IdMap:
    """A sorted array of raw ids; the dense index of a raw id is its position in the array."""

    raw: np.ndarray

    def __post_init__(self) -> None:
        raw = np.asarray(self.raw, dtype=np.int64)
        if raw.ndim != 1 or (raw.size > 1 and not np.all(raw[1:] > raw[:-1])):
            raise ValueError("raw ids must be a 1-d array of unique, ascending integers")
        object.__setattr__(self, "raw", raw)

    def __len__(self) -> int:
        return int(self.raw.size)

    def index_of(self, raw_ids) -> np.ndarray:
        """Dense indexes of ``raw_ids``; -1 where a raw id is unknown."""
        raw_ids = np.asarray(raw_ids, dtype=np.int64).ravel()
        if not raw_ids.size or not self.raw.size:  # the common case of an empty history is free
            return np.full(raw_ids.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.raw, raw_ids)
        pos[pos == self.raw.size] = self.raw.size - 1
        return np.where(self.raw[pos] == raw_ids, pos, -1)

    def index(self, raw_id: int) -> int | None:
        """Dense index of one raw id, or None when it is unknown."""
        pos = int(self.raw.searchsorted(raw_id))
        return pos if pos < self.raw.size and self.raw[pos] == raw_id else None

    def raw_of(self, indexes) -> np.ndarray:
        """Raw ids of dense indexes."""
        return self.raw[np.asarray(indexes, dtype=np.int64)]


@dataclass(frozen=True)
class IdMaps:
    """The user and movie id maps of one training data set."""

    users: IdMap
    items: IdMap

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> IdMaps:
        """Every user and movie present in an interaction frame."""
        return cls(
            users=IdMap(np.unique(frame["user_id"].to_numpy(np.int64))),
            items=IdMap(np.unique(frame["movie_id"].to_numpy(np.int64))),
        )

    def save(self, directory: str | Path) -> None:
        """Write ``ids.npz`` (two int64 arrays: ``user_ids``, ``movie_ids``)."""
        np.savez(Path(directory) / IDS_FILE, user_ids=self.users.raw, movie_ids=self.items.raw)

    @classmethod
    def load(cls, directory: str | Path) -> IdMaps:
        """Read what :meth:`save` wrote."""
        with np.load(Path(directory) / IDS_FILE, allow_pickle=False) as arrays:
            return cls(users=IdMap(arrays["user_ids"]), items=IdMap(arrays["movie_ids"]))


def interaction_matrix(frame: pd.DataFrame, maps: IdMaps) -> csr_matrix:
    """Binary float32 CSR matrix (users x items) of the interactions in ``frame``.

    Every rating counts as one interaction (implicit feedback); repeated pairs count once.
    Rows of users and columns of movies that ``maps`` does not know are dropped.
    """
    rows = maps.users.index_of(frame["user_id"].to_numpy())
    cols = maps.items.index_of(frame["movie_id"].to_numpy())
    known = (rows >= 0) & (cols >= 0)
    matrix = csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (rows[known], cols[known])),
        shape=(len(maps.users), len(maps.items)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def order_in_history(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame sorted per user by time (ties by movie id): the order recency weighting uses."""
    return frame.sort_values(["user_id", "ts", "movie_id"], kind="stable").reset_index(drop=True)


def recency_matrix(frame: pd.DataFrame, maps: IdMaps) -> csr_matrix:
    """Like :func:`interaction_matrix`, but each stored value is the interaction's recency rank.

    The rank is 1 for the user's most recent interaction, 2 for the one before, and so on, so a
    model can weight recent interactions more without seeing timestamps. Repeated pairs keep
    their most recent rank.
    """
    ordered = order_in_history(frame)
    rows = maps.users.index_of(ordered["user_id"].to_numpy())
    cols = maps.items.index_of(ordered["movie_id"].to_numpy())
    known = (rows >= 0) & (cols >= 0)
    rows, cols = rows[known], cols[known]
    # position from the end within each user's run of rows
    counts = np.bincount(rows, minlength=len(maps.users))
    ends = np.cumsum(counts)
    rank = (ends[rows] - np.arange(rows.size)).astype(np.float32)
    matrix = csr_matrix((rank, (rows, cols)), shape=(len(maps.users), len(maps.items)))
    # duplicates: keep the smallest rank (most recent) instead of summing
    matrix = _min_duplicates(rows, cols, rank, matrix.shape)
    return matrix


def _min_duplicates(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> csr_matrix:
    order = np.lexsort((values, cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return csr_matrix((values[first], (rows[first], cols[first])), shape=shape)


def history_ranks(n: int) -> np.ndarray:
    """Recency ranks of a history given oldest first: ``[n, n-1, ..., 1]`` as float32."""
    return np.arange(n, 0, -1, dtype=np.float32)


def dataset_stats(matrix: csr_matrix) -> dict:
    """Users, items, interactions and density of an interaction matrix."""
    users, items = matrix.shape
    nnz = int(matrix.nnz)
    return {
        "users": int(users),
        "items": int(items),
        "interactions": nnz,
        "density": float(nnz / (users * items)) if users and items else 0.0,
    }


def recency_weights(ranks, half_life: float | None) -> np.ndarray:
    """Weights ``0.5 ** ((rank - 1) / half_life)`` of recency ranks; all 1 when ``half_life`` is None."""
    ranks = np.asarray(ranks, dtype=np.float32)
    if half_life is None:
        return np.ones_like(ranks)
    return np.power(np.float32(0.5), (ranks - 1.0) / np.float32(half_life)).astype(np.float32)
