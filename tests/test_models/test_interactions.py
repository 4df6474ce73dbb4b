"""Id maps and interaction matrices."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.interactions import IdMap, IdMaps, dataset_stats, interaction_matrix, recency_matrix, recency_weights


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [42, 7, 42, 42, 7, 42],
        "movie_id": [300, 100, 100, 200, 300, 100],  # user 42 sees movie 100 twice
        "rating": np.float32(4),
        "ts": [1, 2, 3, 4, 5, 6],
    })


def test_id_maps_are_sorted_int64_and_round_trip(frame, tmp_path):
    maps = IdMaps.from_frame(frame)
    assert maps.users.raw.tolist() == [7, 42] and maps.items.raw.dtype == np.int64
    assert maps.items.index_of([300, 999, 100]).tolist() == [2, -1, 0]
    assert maps.users.index(42) == 1 and maps.users.index(8) is None
    maps.save(tmp_path)
    with np.load(tmp_path / "ids.npz", allow_pickle=False) as arrays:
        assert arrays["user_ids"].dtype == np.int64
    loaded = IdMaps.load(tmp_path)
    assert loaded.users.raw.tolist() == [7, 42] and loaded.items.raw.tolist() == [100, 200, 300]


def test_id_map_rejects_unsorted_or_repeated_ids():
    with pytest.raises(ValueError):
        IdMap(np.array([3, 1]))
    with pytest.raises(ValueError):
        IdMap(np.array([1, 1]))
    assert IdMap(np.array([], dtype=np.int64)).index_of([5]).tolist() == [-1]


def test_interaction_matrix_is_binary_users_by_items(frame):
    maps = IdMaps.from_frame(frame)
    matrix = interaction_matrix(frame, maps)
    assert matrix.shape == (2, 3) and matrix.dtype == np.float32
    assert matrix.toarray().tolist() == [[1, 0, 1], [1, 1, 1]]
    assert dataset_stats(matrix) == {"users": 2, "items": 3, "interactions": 5, "density": 5 / 6}


def test_recency_matrix_ranks_from_the_most_recent(frame):
    maps = IdMaps.from_frame(frame)
    ranks = recency_matrix(frame, maps).toarray()
    # user 7: movie 300 (ts 5) is the most recent, 100 (ts 2) the one before
    assert ranks[0].tolist() == [2, 0, 1]
    # user 42 (ts 1: 300, 3: 100, 4: 200, 6: 100 again): a repeat keeps its latest rank
    assert ranks[1].tolist() == [1, 2, 4]


def test_recency_weights_halve_every_half_life():
    assert recency_weights([1, 3, 5], 2.0).tolist() == [1.0, 0.5, 0.25]
    assert recency_weights([1, 9], None).tolist() == [1.0, 1.0]
