"""Which model this worker serves: the registry's choice at start, then every model event."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agents.broadcast import CatchUp, follow
from app import app
from app.schema_registry import codec_for
from app.deployment import holder
from app.registry import Registry
from app.settings import get_settings
from app.storage import open_store
from app.views import HEALTH_CHECKS
from tables.history import item_deltas

settings = get_settings()
MODEL_EVENT = codec_for("ModelEvent", settings.topic("model-events"))
SWAP_ACTIONS = {"promote", "rollback"}


def registry() -> Registry:
    return Registry(open_store(settings.registry, settings))


@app.task
async def deploy_at_start() -> None:
    """Load the configured model's production version; retry until one is registered."""
    while holder.current is None:
        await holder.deploy(registry(), settings.serve_model)
        if holder.current is None:
            await asyncio.sleep(settings.model_retry_s)


async def on_model_events(records: list[Any]) -> None:
    for record in records:
        event = MODEL_EVENT.decode(record.value)
        if event["model_name"] != settings.serve_model:
            continue
        if event["action"] in SWAP_ACTIONS or (event["action"] == "register" and await serves_newest()):
            await holder.deploy(registry(), event["model_name"], event["model_version"])


async def serves_newest() -> bool:
    """True while the served model has no production version, so a new registration is what to serve."""
    return (await registry().stages(settings.serve_model))["production"] is None


@app.task
async def follow_model_events() -> None:
    """Swap in whatever version a promotion or rollback names (or a registration, while no version
    is in production), on every worker."""
    await follow(settings, settings.topic("model-events"), on_model_events, since_ms=None)


async def on_interactions(records: list[Any]) -> None:
    deployed = holder.current
    if deployed is None:
        return
    for record in records:
        # A delta may combine several users' new interactions with one movie (one per batch).
        for delta in item_deltas(json.loads(record.value) if record.value else None):
            for _ in range(delta["new_watcher"] + delta["ratings"]):
                deployed.trending.update(delta["movie_id"], delta["ts"])


TRENDING_REPLAY = CatchUp()
"""The trending replay's progress: the worker is ready once it has counted what came before it started."""


@app.task
async def follow_interactions() -> None:
    """Feed every new interaction of the whole catalog into this worker's trending counts.

    The counts live in the deployment, so the replay waits for the first model to load.
    """
    since = int(time.time() * 1000) - int(settings.trending_replay_days * 86_400_000)
    while holder.current is None:
        await asyncio.sleep(0.2)
    await follow(settings, settings.topic("item-interactions"), on_interactions, since_ms=since,
                 progress=TRENDING_REPLAY)


async def trending_health() -> tuple[bool, dict[str, Any]]:
    """Ready once the trending replay has reached the end offsets taken at its start."""
    return TRENDING_REPLAY.caught_up, TRENDING_REPLAY.as_dict()


HEALTH_CHECKS.update(trending=trending_health)
