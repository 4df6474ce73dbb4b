"""Swapping the served model: a failed load keeps the current one, a good one settles the heap."""
from __future__ import annotations

import gc

from app.deployment import ModelHolder
from app.registry import Registry
from tests.s3server import file_store  # noqa: F401 - fixture
from tests.test_app.test_registry import card_of, frame, trained  # noqa: F401 - fixtures


async def test_swap_freezes_what_is_alive_and_a_bad_version_keeps_the_current(file_store, trained) -> None:  # noqa: F811
    registry = Registry(file_store)
    version = await registry.register(trained["itemcf"].bundle, card_of(trained["itemcf"]))
    holder = ModelHolder()
    gc.unfreeze()
    try:
        assert await holder.deploy(registry, "itemcf") is not None
        assert holder.current.version == version and gc.get_freeze_count() > 0
        assert await holder.deploy(registry, "itemcf", "no-such-version") is None
        assert holder.current.version == version and "no-such-version" in holder.last_error
    finally:
        gc.unfreeze()
