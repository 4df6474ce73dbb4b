"""The synthetic data set is deterministic, MovieLens-shaped and has collaborative signal."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from models.data.synthetic import generate


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate(seed=0)


def test_same_seed_same_data_other_seed_other_data() -> None:
    small = dict(n_users=200, n_movies=300, n_interactions=8_000)
    first, again = generate(seed=7, **small), generate(seed=7, **small)
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert not first[0].equals(generate(seed=8, **small)[0])


def test_frame_contract_and_default_size(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalog = data
    assert interactions.dtypes.astype(str).to_dict() == {
        "user_id": "int64", "movie_id": "int64", "rating": "float32", "ts": "int64"
    }
    assert len(interactions) == 100_000 and interactions["user_id"].nunique() == 1000
    assert interactions["ts"].is_monotonic_increasing
    assert not interactions.duplicated(["user_id", "movie_id"]).any()
    assert set(interactions["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert list(catalog.columns) == ["movie_id", "title", "genres", "year"] and len(catalog) == 1700
    assert set(interactions["movie_id"]) <= set(catalog["movie_id"])
    assert catalog["title"].is_unique and (catalog["genres"] != "").all()
    days = (interactions["ts"].max() - interactions["ts"].min()) / 86_400_000
    assert 150 < days <= 210


def test_default_size_is_fast() -> None:
    started = time.perf_counter()
    generate(seed=3)
    assert time.perf_counter() - started < 2.0


def test_popularity_and_activity_are_long_tailed(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalog = data
    per_movie = interactions["movie_id"].value_counts().reindex(catalog["movie_id"], fill_value=0)
    top = np.sort(per_movie.to_numpy())[::-1][: len(catalog) // 5]
    assert top.sum() / len(interactions) > 0.5
    per_user = interactions["user_id"].value_counts()
    assert per_user.max() > 5 * per_user.median() and per_user.min() >= 20


def test_ratings_rise_with_taste(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalog = data
    cluster = _movie_cluster(interactions, catalog)
    main = _user_main_cluster(interactions, catalog)
    in_taste = cluster == interactions["user_id"].map(main).to_numpy()
    ratings = interactions["rating"].to_numpy()
    assert ratings[in_taste].mean() > ratings[~in_taste].mean() + 0.2


def test_users_of_one_taste_share_movies(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalog = data
    main = _user_main_cluster(interactions, catalog).sort_index()
    seen = _user_item_matrix(interactions)[main.index.to_numpy()]
    overlap = seen @ seen.T
    same = main.to_numpy()[:, None] == main.to_numpy()[None, :]
    np.fill_diagonal(same, False)
    other = main.to_numpy()[:, None] != main.to_numpy()[None, :]
    assert overlap[same].mean() > 1.25 * overlap[other].mean()  # about 1.5; popular movies are shared by all


def test_item_cooccurrence_beats_popularity_on_held_out_items(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Leave each user's last movie out: item-item cosine must find it clearly more often."""
    interactions, _ = data
    last = interactions.groupby("user_id").tail(1)
    seen = _user_item_matrix(interactions.drop(last.index))
    counts = seen.sum(axis=0)
    similar = seen.T @ seen / (np.sqrt(np.outer(counts, counts)) + 1e-9)
    np.fill_diagonal(similar, 0)
    users, held_out = last["user_id"].to_numpy(), last["movie_id"].to_numpy()

    def hit_rate(scores: np.ndarray) -> float:
        scores = np.where(seen[users] > 0, -np.inf, scores)
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        return float((top == held_out[:, None]).any(axis=1).mean())

    popularity = hit_rate(np.broadcast_to(counts, (users.size, counts.size)))
    item_cf = hit_rate(seen[users] @ similar)
    assert item_cf > 1.5 * popularity


def _user_item_matrix(interactions: pd.DataFrame) -> np.ndarray:
    matrix = np.zeros((interactions["user_id"].max() + 1, interactions["movie_id"].max() + 1), np.float32)
    matrix[interactions["user_id"], interactions["movie_id"]] = 1
    return matrix


def _movie_cluster(interactions: pd.DataFrame, catalog: pd.DataFrame) -> np.ndarray:
    """A movie's taste cluster is its first genre."""
    first_genre = catalog.set_index("movie_id")["genres"].str.split("|").str[0]
    return interactions["movie_id"].map(first_genre).to_numpy()


def _user_main_cluster(interactions: pd.DataFrame, catalog: pd.DataFrame) -> pd.Series:
    """The cluster a user watched most, by user id."""
    clusters = pd.DataFrame({"user_id": interactions["user_id"], "cluster": _movie_cluster(interactions, catalog)})
    return clusters.groupby("user_id")["cluster"].agg(lambda c: c.value_counts().index[0])
