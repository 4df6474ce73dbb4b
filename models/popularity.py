"""Most-popular: every user gets the items with the most training interactions (cold-start fallback)."""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from models.base import Params, Recommender


class PopularityParams(Params):
    """Most-popular has nothing to tune."""


class MostPopular(Recommender):
    """Scores an item by how many users interacted with it in the training matrix."""

    name = "popularity"
    Params = PopularityParams

    def _fit(self, matrix: csr_matrix, *, progress: bool) -> None:
        pass  # the base already counted self.popularity

    def score_users(self, user_indexes: np.ndarray) -> np.ndarray:
        popularity = self._fitted_popularity()
        return np.broadcast_to(popularity, (len(user_indexes), popularity.size))

    def score_history(self, item_indexes: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        return self._fitted_popularity()
