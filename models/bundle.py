"""A fitted model plus its id maps, answering in raw user and movie ids (what serving uses)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from models.base import Recommender
from models.exceptions import ArtifactError
from models.interactions import IdMaps

Strategy = Literal["model", "fold-in", "popular-fallback"]


@dataclass(frozen=True)
class Recommendation:
    """Movies best first, their scores, and how they were found (``RecoResponse.strategy``)."""

    movie_ids: list[int]
    scores: list[float]
    strategy: Strategy


class ModelBundle:
    """One model and the id maps it was trained with; saved and loaded as one directory.

    Directory layout: the model's files (``model.json``, ``matrix.npz``, ``state.npz``, and for
    NCF ``state_dict.pt``) plus ``ids.npz`` (``user_ids``, ``movie_ids``: int64, position =
    dense index). No pickle anywhere.
    """

    def __init__(self, model: Recommender, maps: IdMaps) -> None:
        if (len(maps.users), len(maps.items)) != (model.n_users, model.n_items):
            raise ArtifactError(
                f"id maps ({len(maps.users)} users, {len(maps.items)} movies) do not match the "
                f"model ({model.n_users} users, {model.n_items} items)"
            )
        self.model = model
        self.maps = maps

    @property
    def name(self) -> str:
        """The model's registry name (``popularity``, ``itemcf``, ``als``, ``ncf``)."""
        return self.model.name

    def knows_user(self, user_id: int) -> bool:
        """Whether the model was trained with this user."""
        return self.maps.users.index(int(user_id)) is not None

    def _items(self, movie_ids: Iterable[int]) -> np.ndarray:
        indexes = self.maps.items.index_of(np.fromiter((int(m) for m in movie_ids), dtype=np.int64))
        return indexes[indexes >= 0]

    def _answer(self, found: tuple[np.ndarray, np.ndarray], strategy: Strategy) -> Recommendation:
        items, scores = found
        return Recommendation(
            movie_ids=[int(m) for m in self.maps.items.raw_of(items)],
            scores=[float(s) for s in scores],
            strategy=strategy,
        )

    def recommend(
        self, user_id: int, k: int = 10, *, seen: Iterable[int] = (), exclude: Iterable[int] = ()
    ) -> Recommendation:
        """Top ``k`` movies for a raw user id, never one in ``seen``, ``exclude`` or its training data.

        ``seen`` is the user's history as the caller knows it (oldest first). A user the model
        does not know is folded in from ``seen``; with no known movie there either, the answer
        is the most popular movies.
        """
        seen = list(seen)
        banned = np.concatenate([self._items(seen), self._items(exclude)])
        user = self.maps.users.index(int(user_id))
        if user is not None:
            return self._answer(self.model.recommend(user, k, exclude=banned), "model")
        return self.recommend_from_history(seen, k, exclude=exclude)

    def recommend_from_history(
        self, movie_ids: Iterable[int], k: int = 10, *, exclude: Iterable[int] = ()
    ) -> Recommendation:
        """Top ``k`` movies for a history of raw movie ids (oldest first), without retraining.

        Movies the model does not know are ignored; an empty (or all-unknown) history gets the
        most popular movies. The history and ``exclude`` are never recommended.
        """
        history = self._items(movie_ids)
        excluded = self._items(exclude)
        if history.size == 0:
            return self._answer(self.model.recommend_popular(k, exclude=excluded), "popular-fallback")
        return self._answer(self.model.recommend_from_history(history, k, exclude=excluded), "fold-in")

    def popular(self, k: int = 10, *, exclude: Iterable[int] = ()) -> Recommendation:
        """The ``k`` most popular movies of the training data, minus ``exclude``."""
        return self._answer(self.model.recommend_popular(k, exclude=self._items(exclude)), "popular-fallback")

    def save(self, directory: str | Path) -> Path:
        """Write the model and ``ids.npz`` into ``directory`` (created if needed)."""
        directory = self.model.save(directory)
        self.maps.save(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ModelBundle:
        """Read a bundle that :meth:`save` wrote, whichever model it holds."""
        directory = Path(directory)
        try:
            maps = IdMaps.load(directory)
        except FileNotFoundError:
            raise ArtifactError(f"no ids.npz in {directory}") from None
        return cls(Recommender.load(directory), maps)
