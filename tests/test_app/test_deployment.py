"""Swapping the served versions: a failed load keeps the rest serving, a good one settles the heap."""
from __future__ import annotations

import gc

from app.deployment import ModelHolder, load_deployment, load_off_loop
from app.registry import Registry
from app.rollout.state import Canary, RolloutState, Traffic
from tests.s3server import file_store  # noqa: F401 - fixture
from tests.test_app.test_registry import card_of, frame, trained  # noqa: F401 - fixtures


async def test_swap_freezes_what_is_alive_and_a_bad_version_keeps_the_current(file_store, trained) -> None:  # noqa: F811
    registry = Registry(file_store)
    version = await registry.register(trained["itemcf"].bundle, card_of(trained["itemcf"]))
    holder = ModelHolder()

    async def stable(state: RolloutState) -> str:
        return version

    async def load(name: str, version: str):
        return await load_off_loop(lambda: Registry(file_store), name, version)
    gc.unfreeze()
    try:
        assert await holder.apply("itemcf", RolloutState(), stable, load)
        assert holder.current.version == version and gc.get_freeze_count() > 0
        bad = RolloutState({"itemcf": Traffic(canary=Canary("itemcf", "no-such-version", 50, 1))})
        assert await holder.apply("itemcf", bad, stable, load)
        assert holder.current.version == version and "no-such-version" in holder.last_error
        assert {holder.routing.arm_for(user).name for user in range(50)} == {"stable"}
        assert (await load_deployment(registry, "itemcf")).version == version, "newest without production"
    finally:
        gc.unfreeze()
