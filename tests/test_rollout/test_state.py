"""The rollout state folded from model events: every action, refusals by the fold, replays."""
from __future__ import annotations

import json

from app.rollout.commands import event
from app.rollout.state import RolloutState, fold, replay


def ev(action: str, version: str = "", name: str = "als", ts: int = 1000, **fields) -> dict:
    return {**event(action, name, version, actor="test", **fields), "ts": ts}


def ab(experiment: str, arms: list[tuple[str, str, int]], name: str = "als", reranker: str | None = None) -> dict:
    params = {"arms": [{"name": n, "model_name": name, "model_version": v, "weight": w,
                        "reranker": reranker if n == "b" else None} for n, v, w in arms]}
    return ev("ab_start", arms[0][1], name, experiment=experiment, params=params)


def test_promote_canary_and_a_promotion_of_the_canary_ends_it() -> None:
    state = replay([ev("promote", "v1"), ev("canary", "v2", percent=10, ts=2000)])
    traffic = state.traffic("als")
    assert traffic.stable == "v1" and traffic.canary.percent == 10 and traffic.canary.trial == "canary:als:v2:2000"
    raised = fold(state, ev("canary", "v2", percent=30, ts=3000))
    assert raised.traffic("als").canary.percent == 30 and raised.traffic("als").canary.since == 2000, "same trial"
    promoted = fold(raised, ev("promote", "v2"))
    assert promoted.traffic("als").stable == "v2" and promoted.traffic("als").canary is None
    assert promoted.ended[-1]["outcome"] == "promoted" and promoted.events == 4


def test_a_canary_rollback_keeps_stable_and_a_stable_rollback_moves_it() -> None:
    state = replay([ev("promote", "v1"), ev("canary", "v2", percent=5, params={"reranker": "mmr:lambda=0.3"})])
    assert state.traffic("als").canary.reranker == "mmr:lambda=0.3"
    rolled = fold(state, ev("rollback", "v2", arm="canary", reason="error rate"))
    traffic = rolled.traffic("als")
    assert traffic.stable == "v1" and traffic.canary is None
    assert traffic.last_rollback["reason"] == "error rate" and traffic.last_rollback["arm"] == "canary"
    legacy = fold(rolled, {**ev("rollback", "v0"), "arm": ""})  # what ``registry rollback`` publishes
    assert legacy.traffic("als").stable == "v0" and legacy.traffic("als").last_rollback["arm"] == "stable"


def test_experiments_one_per_model_and_never_beside_a_canary() -> None:
    state = replay([ev("promote", "v1"), ab("e1", [("a", "v1", 30), ("b", "v2", 70)], reranker="mmr:lambda=0.3")])
    experiment = state.traffic("als").experiment
    assert [(a.name, a.weight) for a in experiment.arms] == [("a", 30), ("b", 70)]
    assert experiment.arms[1].reranker == "mmr:lambda=0.3" and state.experiment("e1") is experiment
    same = fold(state, ab("e2", [("a", "v1", 50), ("b", "v3", 50)]))
    assert same.traffic("als").experiment.experiment == "e1", "a racing second experiment is ignored"
    assert fold(state, ev("canary", "v3", percent=5)).traffic("als").canary is None
    stopped = fold(state, ev("ab_stop", "v1", experiment="e1"))
    assert stopped.traffic("als").experiment is None and stopped.ended[-1]["outcome"] == "stopped"


def test_models_are_independent_and_unknown_or_malformed_events_change_nothing() -> None:
    state = replay([ev("promote", "v1"), ev("promote", "x1", name="itemcf"), ev("shadow", "v9")])
    assert state.traffic("itemcf").stable == "x1" and state.traffic("als").shadow.model_version == "v9"
    assert state.versions("als") == {("als", "v9")}
    assert fold(state, ev("frobnicate", "v2")).models == state.models
    bad = fold(state, ev("ab_start", "v1", experiment="e", params={"arms": [{"name": "a"}]}))
    assert bad.models == state.models and bad.events == state.events + 1
    assert fold(state, {**ev("ab_start", "v1", experiment="e"), "params": "{not json"}).models == state.models


def test_replay_in_order_gives_the_same_state_as_folding_live() -> None:
    events = [ev("promote", "v1"), ev("canary", "v2", percent=10, ts=5), ev("rollback", "v2", arm="canary"),
              ab("e1", [("a", "v1", 50), ("b", "v2", 50)]), ev("shadow", "v3"), ev("shadow_stop", "v3")]
    live = RolloutState()
    for record in events:
        live = fold(live, json.loads(json.dumps(record)))  # through JSON, as through Avro
    assert replay(events) == live
    assert live.traffic("als").experiment.trial == "ab:e1:1000" and live.traffic("als").shadow is None
