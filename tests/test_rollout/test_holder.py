"""Serving several versions: the holder loads what the state names and routes users to arms."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from app.deployment import Deployed, ModelHolder, footprint
from app.registry import RegistryError
from app.rollout.state import ArmSpec, Canary, Experiment, RolloutState, Shadow, Traffic
from app.serving import answer_arm, check_request
from tests.test_app.test_serving import deployed  # noqa: F401 - module fixture

REQUEST = {"request_id": "r", "ts": 1, "user_id": 1, "k": 5, "client_id": "c", "exclude": []}


class Broken:
    """A model whose scoring raises, standing in for a version with corrupt factors."""

    def __getattr__(self, name):
        raise ValueError("corrupt factors")


def version_of(base: Deployed, version: str, broken: bool = False) -> Deployed:
    card = {**base.card, "version": version}
    if broken:
        bundle = type(base.bundle).__new__(type(base.bundle))
        bundle.__dict__.update(base.bundle.__dict__, model=Broken())
        return replace(base, card=card, bundle=bundle)
    return replace(base, card=card)


@pytest.fixture
def loader(deployed):  # noqa: F811
    loads = []

    async def load(name: str, version: str) -> Deployed:
        loads.append(version)
        if version == "missing":
            raise RegistryError("no version missing of model itemcf")
        return version_of(deployed, version, broken=version == "broken")
    return load, loads


async def stable_v1(state: RolloutState) -> str:
    return state.traffic("itemcf").stable or "v1"


async def test_the_state_names_what_is_loaded_and_each_user_gets_an_arm(loader) -> None:
    load, loads = loader
    holder = ModelHolder()
    canary = RolloutState({"itemcf": Traffic(stable="v1", canary=Canary("itemcf", "v2", 50, 1, "mmr:lambda=0.3"),
                                             shadow=Shadow("itemcf", "v3", 1))})
    assert await holder.apply("itemcf", canary, stable_v1, load)
    assert sorted(loads) == ["v1", "v2", "v3"] and holder.current.version == "v1"
    arms = {user: holder.routing.arm_for(user) for user in range(1, 401)}
    assert {arm.name for arm in arms.values()} == {"stable", "canary"}
    assert all(arm.trial == "canary:itemcf:v2:1" for arm in arms.values())
    assert {arm.reranker for arm in arms.values() if arm.name == "canary"} == {"mmr:lambda=0.3"}
    assert holder.routing.shadow[1].version == "v3" and holder.loaded[("itemcf", "v1")].trending is \
        holder.loaded[("itemcf", "v2")].trending, "one set of live trending counts"
    experiment = RolloutState({"itemcf": Traffic(stable="v1", experiment=Experiment(
        "e", "itemcf", (ArmSpec("a", "itemcf", "v1", 50), ArmSpec("b", "itemcf", "v4", 50)), 2))})
    in_flight = holder.routing
    assert await holder.apply("itemcf", experiment, stable_v1, load)
    assert set(holder.loaded) == {("itemcf", "v1"), ("itemcf", "v4")}, "versions no longer named are dropped"
    assert in_flight.arms["canary"].deployed.version == "v2", "a request that holds the old routing keeps it"
    assert {holder.routing.arm_for(user).name for user in range(1, 200)} == {"a", "b"}


async def test_a_version_that_fails_to_load_or_to_score_leaves_its_users_on_stable(loader) -> None:
    load, _ = loader
    holder = ModelHolder()
    state = RolloutState({"itemcf": Traffic(stable="v1", canary=Canary("itemcf", "missing", 100, 1))})
    assert await holder.apply("itemcf", state, stable_v1, load)
    assert "no version missing" in holder.last_error and holder.routing.arm_for(1).name == "stable"
    state = RolloutState({"itemcf": Traffic(stable="v1", canary=Canary("itemcf", "broken", 100, 1))})
    await holder.apply("itemcf", state, stable_v1, load)
    answered = answer_arm(check_request(REQUEST), None, holder.routing, "w", time.perf_counter())
    assert answered.response["status"] == 200 and answered.response["arm"] == "stable"
    assert [(arm.name, arm.deployed.version) for arm, _ in answered.failed] == [("canary", "broken")]
    nothing = ModelHolder()

    async def no_stable(state: RolloutState) -> None:
        return None
    assert not await nothing.apply("itemcf", state, no_stable, load) and nothing.routing is None


async def test_a_preload_during_the_replay_is_kept_only_if_the_replayed_state_names_it(loader) -> None:
    load, loads = loader
    holder = ModelHolder()
    await holder.preload("itemcf", stable_v1, load)  # the registry's choice, before any model event
    assert loads == ["v1"] and holder.routing is None, "loaded, not served before the replay is over"
    assert await holder.apply("itemcf", RolloutState(), stable_v1, load)
    assert loads == ["v1"] and holder.current.version == "v1", "the replayed state named it: no second load"
    moved = ModelHolder()
    await moved.preload("itemcf", stable_v1, load)
    assert await moved.apply("itemcf", RolloutState({"itemcf": Traffic(stable="v2")}), stable_v1, load)
    assert loads == ["v1", "v1", "v2"] and set(moved.loaded) == {("itemcf", "v2")}, "a rollout moved stable"

    async def stable_missing(state: RolloutState) -> str:
        return "missing"
    failed = ModelHolder()
    await failed.preload("itemcf", stable_missing, load)
    assert failed.loaded == {} and not failed.errors, "a failed preload is left for apply to report"
    assert not await failed.apply("itemcf", RolloutState(), stable_missing, load)
    assert "no version missing" in failed.last_error

    async def registry_down(state: RolloutState) -> str:
        raise RegistryError("registry unreachable")
    await ModelHolder().preload("itemcf", registry_down, load)  # returns: the deployer's loop must go on


def test_footprint_counts_arrays_once(deployed) -> None:  # noqa: F811
    model = deployed.bundle.model
    expected = model.matrix.data.nbytes + model.matrix.indices.nbytes + model.matrix.indptr.nbytes
    assert footprint(deployed.bundle) >= expected
    assert footprint([model.matrix.data, model.matrix.data[:3]]) == model.matrix.data.nbytes
