"""train(): tuning on validation only, refit, evaluation; and every model against most-popular on ML-100K."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.evaluation import leave_last_split
from models.factory import MODEL_NAMES
from models.training import GRIDS, TrainResult, train

from tests.test_models.conftest import CLUSTER_USERS, TINY_PARAMS, cluster_frame


def test_result_holds_the_tuned_model_its_metrics_and_a_json_card():
    result = train("itemcf", cluster_frame(), progress=False)
    assert isinstance(result, TrainResult) and result.fitted_on == "train+validation"
    assert len(result.tuning) == len(GRIDS["itemcf"]["neighbours"]) * len(GRIDS["itemcf"]["recency_half_life"])
    assert result.params["neighbours"] in GRIDS["itemcf"]["neighbours"]
    assert {r["protocol"] for r in result.metrics} == {r["protocol"] for r in result.validation}
    assert result.dataset["users"] == 24 and result.training_seconds >= result.fit_seconds > 0
    assert result.bundle.recommend(1000, k=3).strategy == "model"
    json.dumps(result.model_card())


def test_test_items_never_influence_tuning():
    frame = cluster_frame()
    split = leave_last_split(frame)
    changed = frame.copy()
    last = changed.merge(split.test[["user_id", "movie_id", "ts"]], how="left", indicator=True)["_merge"] == "both"
    # swap every user's test item for a movie of the other cluster (same catalog, other answers)
    other_cluster = changed["user_id"] >= 1000 + 7 * CLUSTER_USERS
    changed.loc[last.to_numpy(), "movie_id"] = np.where(other_cluster, 500 + 3 * 2, 500 + 3 * 15)[last.to_numpy()]
    a = train("itemcf", frame, progress=False)
    b = train("itemcf", changed, progress=False)
    assert a.metrics != b.metrics  # the test items did change
    assert a.params == b.params and a.tuning == b.tuning
    assert [r["hr@10"] for r in a.validation] == [r["hr@10"] for r in b.validation]


def test_without_tuning_the_given_params_are_fitted_once():
    result = train("als", cluster_frame(), params=TINY_PARAMS["als"], tune=False, seed=3, progress=False)
    assert result.tuning == [] and result.validation == []
    assert result.params["factors"] == 2 and result.params["seed"] == 3


def test_refit_all_returns_a_model_of_every_interaction():
    frame = cluster_frame()
    result = train("popularity", frame, tune=False, refit_all=True, progress=False)
    assert result.fitted_on == "all" and result.bundle.model.matrix.nnz == len(frame)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_every_model_beats_most_popular_on_movielens_in_reduced_mode(ml100k_path):
    from models.data.movielens import load_interactions

    frame = load_interactions(ml100k_path)
    split = leave_last_split(frame)
    hr = {}
    for name in MODEL_NAMES:
        result = train(name, frame, tune=False, epochs=2, split=split, progress=False)
        hr[name] = next(r["hr@10"] for r in result.metrics if r["protocol"] == "full")
    # the reference most-popular figure for this exact protocol is 0.050
    assert hr["popularity"] == pytest.approx(0.0498, abs=0.001)
    for name in MODEL_NAMES[1:]:
        assert hr[name] > hr["popularity"] + 0.01, hr
