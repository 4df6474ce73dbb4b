"""Answering one request: checks, strategies, exclusions and provenance, without Faust."""
from __future__ import annotations

import time

import pytest

from app.deployment import Deployed
from app.events import WatchEvent
from app.serving import BadRequest, answer, check_request
from models.data.synthetic import generate
from models.serving import PolicyConfig
from models.training import train
from models.trending import TrendingCounts
from tables.history import apply_watch, new_user_state

REQUEST = {"request_id": "r1", "ts": 1, "user_id": 1, "k": 10, "client_id": "c", "exclude": []}


@pytest.fixture(scope="module")
def deployed() -> Deployed:
    frame = generate(n_users=120, n_movies=200, n_interactions=5_000, seed=2)[0]
    result = train("itemcf", frame, tune=False, progress=False, refit_all=True)
    card = {**result.model_card(), "version": "v1", "git_sha": "sha", "data_snapshot_id": "sha256:d"}
    return Deployed(result.bundle, card, PolicyConfig(), {},
                    TrendingCounts(None, result.bundle.maps.items.raw))


@pytest.mark.parametrize("change, reason", [
    ({"k": 0}, "k 0"), ({"k": 101}, "k 101"), ({"user_id": 0}, "user_id 0"),
    ({"request_id": ""}, "request_id"), ({"exclude": list(range(1001))}, "exclude has 1001"),
])
def test_bad_requests_say_why(change: dict, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        check_request({**REQUEST, **change})


def test_known_user_gets_the_model_with_full_provenance(deployed: Deployed) -> None:
    user = int(deployed.bundle.maps.users.raw[0])
    result = answer(check_request({**REQUEST, "user_id": user, "exclude": [5]}), None, deployed, "w1",
                    time.perf_counter())
    assert result["status"] == 200 and result["strategy"] == "model" and len(result["movie_ids"]) == 10
    assert 5 not in result["movie_ids"]
    assert (result["model_name"], result["model_version"], result["git_sha"], result["served_by"]) == (
        "itemcf", "v1", "sha", "w1")
    assert result["latency_ms"] > 0


def test_live_history_personalises_a_new_user_and_is_never_repeated(deployed: Deployed) -> None:
    state = new_user_state()
    watched = [int(m) for m in deployed.bundle.maps.items.raw[:3]]
    for minute, movie in enumerate(watched):
        apply_watch(state, WatchEvent(1000 + minute, 50_000, movie, 0), 200)
    result = answer(check_request({**REQUEST, "user_id": 50_000, "k": 20}), state, deployed, "w1", time.perf_counter())
    assert result["strategy"] == "fold-in" and len(result["movie_ids"]) == 20
    assert not set(watched) & set(result["movie_ids"])
    cold = answer(check_request({**REQUEST, "user_id": 50_001}), None, deployed, "w1", time.perf_counter())
    assert cold["strategy"] == "popular-fallback" and len(cold["movie_ids"]) == 10


def test_no_model_yet_is_503() -> None:
    result = answer(check_request(REQUEST), None, None, "w1", time.perf_counter())
    assert result["status"] == 503 and result["movie_ids"] == [] and "no model" in result["error"]


def test_a_reranker_reorders_a_deeper_candidate_list_and_keeps_exclusions(deployed: Deployed) -> None:
    from app.serving import rerank_context

    user = int(deployed.bundle.maps.users.raw[0])
    request = check_request({**REQUEST, "user_id": user, "exclude": [5]})
    plain = answer(request, None, deployed, "w1", time.perf_counter())
    deeper = answer(check_request({**REQUEST, "user_id": user, "exclude": [5], "k": 30}), None, deployed, "w1",
                    time.perf_counter())
    quota = answer(request, None, deployed, "w1", time.perf_counter(), reranker="tail_quota:q=6")
    tail = rerank_context(deployed.bundle).catalog.tail_ids()
    assert len(quota["movie_ids"]) == 10 and 5 not in quota["movie_ids"]
    assert set(quota["movie_ids"]) <= set(deeper["movie_ids"])  # drawn from the 3k best
    wanted = min(6, len(tail & set(deeper["movie_ids"])))
    assert len(tail & set(quota["movie_ids"])) >= wanted > len(tail & set(plain["movie_ids"]))
    # A bad spec from an arm is served without re-ranking rather than failing the request.
    assert answer(request, None, deployed, "w1", time.perf_counter(), reranker="nope")["movie_ids"] == plain["movie_ids"]
