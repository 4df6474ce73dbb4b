"""Rollout requests checked against the state and the registry before anything is published."""
from __future__ import annotations

import json

import pytest

from app.registry import Registry
from app.rollout.commands import RolloutError, parse, plan, stable_version
from app.rollout.state import fold, replay
from app.storage import FileStore
from models.data.synthetic import generate
from models.training import train


@pytest.fixture(scope="module")
def bundle():
    frame = generate(n_users=60, n_movies=80, n_interactions=1_500, seed=4)[0]
    return train("popularity", frame, tune=False, progress=False, refit_all=True)


@pytest.fixture
async def registry(tmp_path, bundle) -> tuple[Registry, list[str]]:
    registry = Registry(FileStore(tmp_path / "registry"))
    card = {**bundle.model_card(), "git_sha": "s", "data_snapshot_id": "d"}
    versions = [await registry.register(bundle.bundle, {**card, "created_at": 1e9 + i}) for i in range(3)]
    await registry.promote("popularity", versions[0], max_regression=1.0)
    return registry, versions


async def planned(registry: Registry, state, body: dict) -> dict:
    return await plan(parse(body), state, registry, actor="test", max_regression=1.0)


@pytest.mark.parametrize("body, status, words", [
    ([1, 2], 400, "JSON object"),
    ({"action": "launch"}, 400, "action must be one of"),
    ({"action": "canary", "model_name": "popularity", "model_version": "v", "percent": 101}, 400, "percent"),
    ({"action": "canary", "model_name": "popularity", "model_version": "v", "percent": -1}, 400, "percent"),
    ({"action": "canary", "model_name": "popularity", "percent": 5}, 400, "model_version"),
    ({"action": "canary", "model_name": "popularity", "model_version": "v", "percent": 5, "x": 1}, 400, "x"),
    ({"action": "ab_start", "experiment": "e", "arms": [{"name": "a", "model_name": "m", "model_version": "v"}]},
     400, "at least 2"),
    ({"action": "ab_start", "experiment": "e", "split": 50, "arms": [
        {"name": "stable", "model_name": "m", "model_version": "v"},
        {"name": "b", "model_name": "m", "model_version": "v"}]}, 400, "reserved"),
])
def test_malformed_requests_are_400_with_the_reason(body, status: int, words: str) -> None:
    with pytest.raises(RolloutError) as refused:
        parse(body)
    assert refused.value.status == status and words in refused.value.detail


async def test_unknown_model_or_version_is_404(registry) -> None:
    reg, _ = registry
    for name, version in (("nosuch", "v1"), ("popularity", "nosuch")):
        with pytest.raises(RolloutError) as refused:
            await planned(reg, replay([]), {"action": "canary", "model_name": name, "model_version": version,
                                            "percent": 5})
        assert refused.value.status == 404 and version in refused.value.detail


async def test_events_carry_what_the_fold_needs_and_conflicts_are_409(registry) -> None:
    reg, (v0, v1, v2) = registry
    state = replay([])
    assert await stable_version(state, reg, "popularity") == v0, "the registry's production"
    canary = await planned(reg, state, {"action": "canary", "model_name": "popularity", "model_version": v1,
                                        "percent": 10, "reranker": "mmr:lambda=0.3"})
    assert canary["percent"] == 10 and json.loads(canary["params"]) == {"reranker": "mmr:lambda=0.3"}
    with pytest.raises(RolloutError, match="already stable"):
        await planned(reg, state, {"action": "canary", "model_name": "popularity", "model_version": v0, "percent": 5})
    state = fold(state, canary)
    arms = [{"name": "a", "model_name": "popularity", "model_version": v0},
            {"name": "b", "model_name": "popularity", "model_version": v2, "reranker": "popularity_penalty:beta=0.5"}]
    with pytest.raises(RolloutError) as refused:
        await planned(reg, state, {"action": "ab_start", "experiment": "e1", "arms": arms})
    assert refused.value.status == 409 and "canary" in refused.value.detail
    rollback = await planned(reg, state, {"action": "rollback", "model_name": "popularity", "reason": "why"})
    assert (rollback["arm"], rollback["model_version"], rollback["reason"]) == ("canary", v1, "why")
    state = fold(state, rollback)
    start = await planned(reg, state, {"action": "ab_start", "experiment": "e1", "arms": arms, "split": 20})
    assert [a["weight"] for a in json.loads(start["params"])["arms"]] == [20, 80]
    state = fold(state, start)
    assert state.traffic("popularity").experiment.arms[1].reranker == "popularity_penalty:beta=0.5"
    for experiment in ("e1", "e2"):  # the same experiment again, or a second one on the same model
        with pytest.raises(RolloutError) as refused:
            await planned(reg, state, {"action": "ab_start", "experiment": experiment, "arms": arms})
        assert refused.value.status == 409
    with pytest.raises(RolloutError) as refused:
        await planned(reg, state, {"action": "ab_stop", "experiment": "e9"})
    assert refused.value.status == 404
    stop = await planned(reg, state, {"action": "ab_stop", "experiment": "e1"})
    assert fold(state, stop).traffic("popularity").experiment is None


async def test_promote_and_stable_rollback_go_through_the_registry(registry) -> None:
    reg, (v0, v1, _) = registry
    state = replay([])
    promote = await planned(reg, state, {"action": "promote", "model_name": "popularity", "model_version": v1})
    assert (await reg.stages("popularity"))["production"] == v1 and promote["action"] == "promote"
    state = fold(state, promote)
    back = await planned(reg, state, {"action": "rollback", "model_name": "popularity"})
    assert (back["arm"], back["model_version"]) == ("stable", v0)
    assert (await reg.stages("popularity"))["production"] == v0
    with pytest.raises(RolloutError) as refused:
        await planned(reg, fold(state, back), {"action": "shadow_stop", "model_name": "popularity"})
    assert refused.value.status == 409
