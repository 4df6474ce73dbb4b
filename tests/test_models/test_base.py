"""Contract of every recommender, run against all four on the two-cluster data (right answers known)."""
from __future__ import annotations

import numpy as np
import pytest

from models.base import Recommender, distinct_history, top_k
from models.exceptions import ArtifactError, NotFittedError
from models.factory import MODEL_NAMES, create_model

from tests.test_models.conftest import CLUSTER_ITEMS, CLUSTER_USERS, TINY_PARAMS

PERSONALISED = [name for name in MODEL_NAMES if name != "popularity"]


@pytest.fixture(scope="module", params=MODEL_NAMES)
def fitted(request, clusters) -> Recommender:
    _, _, matrix = clusters
    return create_model(request.param, TINY_PARAMS[request.param]).fit(matrix)


@pytest.fixture(scope="module", params=PERSONALISED)
def personalised(request, clusters) -> Recommender:
    _, _, matrix = clusters
    return create_model(request.param, TINY_PARAMS[request.param]).fit(matrix)


def cluster_of(items) -> set[int]:
    return {int(i) // CLUSTER_ITEMS for i in items}


class TestContract:
    """What every model promises (STYLE.md: one shared contract test)."""

    def test_recommends_k_distinct_items_best_first(self, fitted):
        for user in range(fitted.n_users):
            items, scores = fitted.recommend(user, k=4)
            assert len(items) == 4 and len(set(items.tolist())) == 4
            assert np.all(np.diff(scores) <= 0)

    def test_never_recommends_seen_or_excluded(self, fitted):
        for user in range(fitted.n_users):
            exclude = [(user + 1) % fitted.n_items, (user + 5) % fitted.n_items]
            items, _ = fitted.recommend(user, k=8, exclude=exclude)
            assert not set(items.tolist()) & set(fitted.seen(user).tolist())
            assert not set(items.tolist()) & set(exclude)

    def test_returns_every_allowed_item_when_k_is_larger(self, fitted):
        items, _ = fitted.recommend(0, k=1000, exclude=[19])
        assert len(items) == fitted.n_items - len(fitted.seen(0)) - 1

    def test_filter_seen_false_still_honours_exclude(self, fitted):
        items, _ = fitted.recommend(0, k=fitted.n_items, exclude=[0, 1], filter_seen=False)
        assert len(items) == fitted.n_items - 2 and not {0, 1} & set(items.tolist())

    def test_fold_in_never_returns_history_or_excluded(self, fitted):
        history, exclude = [3, 1, 4], [5]
        items, scores = fitted.recommend_from_history(history, k=5, exclude=exclude)
        assert len(items) == 5 and not set(items.tolist()) & {1, 3, 4, 5}
        assert np.all(np.diff(scores) <= 0)

    def test_empty_history_gets_the_most_popular(self, fitted):
        items, _ = fitted.recommend_from_history([], k=3)
        expected, _ = top_k(fitted.popularity, 3)
        np.testing.assert_array_equal(items, expected)

    def test_save_load_round_trip_gives_identical_answers(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted) and loaded.params == fitted.params
        for user in (0, CLUSTER_USERS + 1):
            for a, b in zip(fitted.recommend(user, k=6, exclude=[2]), loaded.recommend(user, k=6, exclude=[2])):
                np.testing.assert_array_equal(a, b)
        for a, b in zip(fitted.recommend_from_history([0, 2], k=5), loaded.recommend_from_history([0, 2], k=5)):
            np.testing.assert_array_equal(a, b)

    def test_artifacts_hold_no_pickle(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        for path in (tmp_path / "m").glob("*.npz"):
            with np.load(path, allow_pickle=False) as arrays:
                for key in arrays.files:
                    assert arrays[key].dtype != object

    def test_fitting_twice_is_deterministic(self, fitted, clusters):
        _, _, matrix = clusters
        again = create_model(fitted.name, fitted.params.model_dump()).fit(matrix)
        for user in range(0, fitted.n_users, 5):
            for a, b in zip(fitted.recommend(user, k=5), again.recommend(user, k=5)):
                np.testing.assert_array_equal(a, b)

    def test_bad_indexes_raise(self, fitted):
        with pytest.raises(IndexError):
            fitted.recommend(fitted.n_users, k=3)
        with pytest.raises(IndexError):
            fitted.recommend(0, k=3, exclude=[fitted.n_items])
        with pytest.raises(IndexError):
            fitted.recommend_from_history([-1], k=3)


class TestPersonalisedContract:
    """Known answers on two disjoint clusters, for the models that personalise."""

    def test_users_get_their_own_cluster_first(self, personalised):
        for user in range(personalised.n_users):
            items, _ = personalised.recommend(user, k=3)
            assert cluster_of(items) == {user // CLUSTER_USERS}, (personalised.name, user, items)

    def test_fold_in_of_a_cluster_a_history_recommends_cluster_a(self, personalised):
        items, _ = personalised.recommend_from_history([0, 1, 2, 3], k=4)
        assert cluster_of(items) == {0}
        items, _ = personalised.recommend_from_history([12, 15, 17], k=4)
        assert cluster_of(items) == {1}


def test_popularity_ranks_by_training_interactions(clusters):
    _, _, matrix = clusters
    model = create_model("popularity").fit(matrix)
    counts = np.diff(matrix.tocsc().indptr)
    items, scores = model.recommend(0, k=5)
    np.testing.assert_array_equal(scores, counts[items])
    allowed = np.setdiff1d(np.arange(matrix.shape[1]), model.seen(0))
    assert scores[0] == counts[allowed].max()


def test_top_k_breaks_ties_by_lower_index_and_skips_banned():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=np.float32)
    items, values = top_k(scores, 3, banned=np.array([2]))
    np.testing.assert_array_equal(items, [1, 4, 3])
    np.testing.assert_array_equal(values, [3.0, 3.0, 2.0])
    assert len(top_k(scores, 10, banned=np.arange(5))[0]) == 0


def test_distinct_history_keeps_the_most_recent_rank():
    items, ranks = distinct_history(np.array([5, 7, 5, 9]))  # oldest first
    assert dict(zip(items.tolist(), ranks.tolist())) == {9: 1.0, 5: 2.0, 7: 3.0}


def test_unfitted_model_and_missing_artifacts_fail_clearly(tmp_path):
    with pytest.raises(NotFittedError):
        create_model("als").recommend(0)
    with pytest.raises(ArtifactError):
        Recommender.load(tmp_path)
