"""The one interface every recommender implements: fit, recommend, fold-in, save and load.

Models work on dense indexes (see :mod:`models.interactions`); :class:`models.bundle.ModelBundle`
translates raw ids. The matrix a model is fitted on is users x items, CSR; a stored value is the
interaction's recency rank (1 = the user's most recent, see :func:`models.interactions.recency_matrix`)
or 1 everywhere when the order is unknown. A model that does not weight by recency only looks at
which entries are stored.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.sparse import csr_matrix

from models.exceptions import ArtifactError, NotFittedError

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
MATRIX_FILE = "matrix.npz"
STATE_FILE = "state.npz"


class Params(BaseModel):
    """Base of every model's hyperparameters: frozen, unknown names rejected, documented fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def top_k(scores: np.ndarray, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of ``scores`` that are not ``banned``, best first.

    Ties are broken by the lower item index, so the answer is deterministic. Fewer than ``k``
    items come back only when fewer than ``k`` are allowed.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if banned is not None and len(banned):
        scores = scores.copy()
        scores[banned] = -np.inf
    allowed = int(np.count_nonzero(scores > -np.inf))
    k = min(int(k), allowed)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    if k < scores.size:
        part = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[part].min()
        candidates = np.flatnonzero(scores >= threshold)
    else:
        candidates = np.flatnonzero(scores > -np.inf)
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    best = candidates[order].astype(np.int64)
    return best, scores[best]


def _as_index_array(values: Iterable[int] | np.ndarray, upper: int, what: str) -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise IndexError(f"{what} index out of range [0, {upper})")
    return array


class Recommender(ABC):
    """Base class of the recommenders: subclasses implement scoring, the base does the rest.

    A subclass sets ``name`` (its registry name) and ``Params`` (a :class:`Params` subclass),
    and implements :meth:`_fit`, :meth:`score_users`, :meth:`score_history`, and, when it has
    learned arrays, :meth:`_state` / :meth:`_restore`.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)
        self.matrix: csr_matrix | None = None
        self.popularity: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    # --- to implement -------------------------------------------------------------------
    @abstractmethod
    def _fit(self, matrix: csr_matrix, *, progress: bool) -> None:
        """Learn from ``matrix`` (already stored on ``self.matrix``)."""

    @abstractmethod
    def score_users(self, user_indexes: np.ndarray) -> np.ndarray:
        """Scores (float32, users x all items) of known users; higher is better, nothing masked."""

    @abstractmethod
    def score_history(self, item_indexes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Scores (float32, all items) for a user described only by a history (fold-in).

        ``item_indexes`` are distinct; ``ranks`` are their recency ranks (1 = most recent).
        """

    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (numeric only: they go to an npz without pickle)."""
        return {}

    def _restore(self, arrays: dict[str, np.ndarray], directory: Path) -> None:
        """Rebuild the learned state from what :meth:`_state` returned."""

    # --- common behaviour ---------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Users of the training matrix."""
        return self._fitted_matrix().shape[0]

    @property
    def n_items(self) -> int:
        """Items of the training matrix (the whole catalog a model can recommend)."""
        return self._fitted_matrix().shape[1]

    def _fitted_matrix(self) -> csr_matrix:
        if self.matrix is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return self.matrix

    def fit(self, matrix: csr_matrix, *, progress: bool = False) -> Recommender:
        """Learn from a users x items interaction matrix; returns ``self``."""
        matrix = csr_matrix(matrix, dtype=np.float32, copy=True)
        matrix.sum_duplicates()
        matrix.sort_indices()
        matrix.eliminate_zeros()
        self.matrix = matrix
        self.popularity = np.diff(matrix.tocsc().indptr).astype(np.float32)
        self._fit(matrix, progress=progress)
        return self

    def seen(self, user_index: int) -> np.ndarray:
        """Items the user interacted with in the training matrix."""
        matrix = self._fitted_matrix()
        return matrix.indices[matrix.indptr[user_index] : matrix.indptr[user_index + 1]]

    def recommend(
        self,
        user_index: int,
        k: int = 10,
        exclude: Iterable[int] = (),
        filter_seen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items for a known user as ``(item_indexes, scores)``, best first.

        Never returns an item in ``exclude``, nor (with ``filter_seen``) one the user has in
        the training matrix.
        """
        if not 0 <= int(user_index) < self.n_users:
            raise IndexError(f"user index {user_index} out of range [0, {self.n_users})")
        scores = self.score_users(np.array([user_index], dtype=np.int64))[0]
        banned = _as_index_array(exclude, self.n_items, "item")
        if filter_seen:
            banned = np.concatenate([banned, self.seen(int(user_index))])
        return top_k(scores, k, banned)

    def recommend_from_history(
        self, item_indexes: Iterable[int], k: int = 10, exclude: Iterable[int] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items for a user known only by ``item_indexes`` (oldest first), no retraining.

        The history and ``exclude`` are never recommended. An empty history gets the most
        popular items of the training matrix.
        """
        history = _as_index_array(item_indexes, self.n_items, "item")
        banned = np.concatenate([history, _as_index_array(exclude, self.n_items, "item")])
        if history.size == 0:
            return top_k(self._fitted_popularity(), k, banned)
        items, ranks = distinct_history(history)
        return top_k(self.score_history(items, ranks), k, banned)

    def recommend_popular(self, k: int = 10, exclude: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items by training interactions: the cold-start answer of every model."""
        return top_k(self._fitted_popularity(), k, _as_index_array(exclude, self.n_items, "item"))

    def _fitted_popularity(self) -> np.ndarray:
        self._fitted_matrix()
        assert self.popularity is not None
        return self.popularity

    # --- artifacts ----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory``: ``model.json``, ``matrix.npz``, ``state.npz``.

        Arrays are plain npz (no pickle); subclasses may add files (NCF: ``state_dict.pt``).
        """
        matrix = self._fitted_matrix()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "name": self.name,
            "class": type(self).__name__,
            "params": self.params.model_dump(mode="json"),
            "shape": list(matrix.shape),
        }
        (directory / MODEL_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        np.savez(
            directory / MATRIX_FILE,
            indptr=matrix.indptr.astype(np.int64),
            indices=matrix.indices.astype(np.int64),
            data=matrix.data.astype(np.float32),
            shape=np.asarray(matrix.shape, dtype=np.int64),
        )
        np.savez(directory / STATE_FILE, **self._state())
        self._save_extra(directory)
        return directory

    def _save_extra(self, directory: Path) -> None:
        """Hook for files that are not numpy arrays."""

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Read a model that :meth:`save` wrote; on the base class, whichever model it is."""
        from models.factory import model_class

        directory = Path(directory)
        try:
            meta = json.loads((directory / MODEL_FILE).read_text())
        except FileNotFoundError:
            raise ArtifactError(f"no {MODEL_FILE} in {directory}") from None
        if meta.get("format") != FORMAT_VERSION:
            raise ArtifactError(f"{directory}: unsupported model format {meta.get('format')!r}")
        klass = model_class(meta["name"])
        if cls is not Recommender and not issubclass(klass, cls):
            raise ArtifactError(f"{directory} holds a {meta['name']!r} model, not {cls.__name__}")
        model = klass(**meta["params"])
        with np.load(directory / MATRIX_FILE, allow_pickle=False) as arrays:
            model.matrix = csr_matrix(
                (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
            )
        model.popularity = np.diff(model.matrix.tocsc().indptr).astype(np.float32)
        with np.load(directory / STATE_FILE, allow_pickle=False) as arrays:
            state = {key: arrays[key] for key in arrays.files}
        model._restore(state, directory)
        return model


def distinct_history(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct items of a history (oldest first) and their recency ranks (1 = most recent).

    A repeated item keeps the rank of its most recent occurrence; ranks count distinct items.
    """
    reversed_history = history[::-1]
    items, first = np.unique(reversed_history, return_index=True)
    order = np.argsort(first, kind="stable")
    ranks = np.empty(items.size, dtype=np.float32)
    ranks[order] = np.arange(1, items.size + 1, dtype=np.float32)
    return items.astype(np.int64), ranks
