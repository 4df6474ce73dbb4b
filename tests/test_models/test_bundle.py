"""The raw-id wrapper the serving layer uses: model, fold-in and fallback answers; one directory."""
from __future__ import annotations

import numpy as np
import pytest

from models.bundle import ModelBundle
from models.exceptions import ArtifactError
from models.factory import MODEL_NAMES, create_model
from models.interactions import IdMap, IdMaps

from tests.test_models.conftest import TINY_PARAMS


def raw_movie(item_index: int) -> int:
    return 500 + 3 * item_index  # how conftest.cluster_frame numbers movies


@pytest.fixture(scope="module", params=["itemcf", "als"])
def bundle(request, clusters) -> ModelBundle:
    _, maps, matrix = clusters
    return ModelBundle(create_model(request.param, TINY_PARAMS[request.param]).fit(matrix), maps)


def test_known_user_is_answered_by_the_model_in_raw_ids(bundle, clusters):
    frame, _, _ = clusters
    user = 1000  # cluster A
    answer = bundle.recommend(user, k=3)
    assert answer.strategy == "model" and len(answer.movie_ids) == 3
    assert all(isinstance(m, int) for m in answer.movie_ids)
    assert set(answer.movie_ids) <= {raw_movie(i) for i in range(10)}
    assert not set(answer.movie_ids) & set(frame.query("user_id == @user").movie_id)


def test_seen_and_exclude_are_honoured_and_unknown_movies_ignored(bundle):
    first = bundle.recommend(1000, k=2).movie_ids
    answer = bundle.recommend(1000, k=3, seen=[first[0], 123456], exclude=[first[1], -5])
    assert not {first[0], first[1]} & set(answer.movie_ids) and len(answer.movie_ids) == 3


def test_unknown_user_is_folded_in_from_seen_or_gets_popular(bundle):
    history = [raw_movie(12), raw_movie(15), 999_999]  # cluster B plus an unknown movie
    answer = bundle.recommend(1, k=3, seen=history)
    assert answer.strategy == "fold-in"
    assert set(answer.movie_ids) <= {raw_movie(i) for i in range(10, 20)}
    assert not set(answer.movie_ids) & set(history)
    assert bundle.recommend(1, k=3, seen=[999_999]).strategy == "popular-fallback"
    assert bundle.recommend_from_history([], k=3).movie_ids == bundle.popular(k=3).movie_ids


def test_bundle_saves_and_loads_as_one_directory(bundle, tmp_path):
    bundle.save(tmp_path / "v1")
    loaded = ModelBundle.load(tmp_path / "v1")
    assert loaded.name == bundle.name and loaded.knows_user(1000) and not loaded.knows_user(1)
    assert loaded.recommend(1007, k=5) == bundle.recommend(1007, k=5)
    history = [raw_movie(1), raw_movie(2)]
    assert loaded.recommend_from_history(history, k=4) == bundle.recommend_from_history(history, k=4)
    assert {p.name for p in (tmp_path / "v1").iterdir()} >= {"ids.npz", "model.json", "matrix.npz", "state.npz"}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_round_trips_through_a_bundle(name, clusters, tmp_path):
    _, maps, matrix = clusters
    bundle = ModelBundle(create_model(name, TINY_PARAMS[name]).fit(matrix), maps)
    loaded = ModelBundle.load(bundle.save(tmp_path / name))
    for user in (1000, 1000 + 7 * 20):
        assert loaded.recommend(user, k=4) == bundle.recommend(user, k=4)


def test_maps_that_do_not_fit_the_model_are_refused(clusters, tmp_path):
    _, maps, matrix = clusters
    model = create_model("popularity").fit(matrix)
    with pytest.raises(ArtifactError):
        ModelBundle(model, IdMaps(users=maps.users, items=IdMap(np.arange(3))))
    with pytest.raises(ArtifactError):
        ModelBundle.load(tmp_path)
