"""What this worker serves: every version the rollout state names, kept loaded and routed.

``agents.rollout`` folds ``model-events`` into ``holder.state`` and sets ``changed``; the
deployer then loads what the state names for ``MOVIE_RECS_SERVE_MODEL`` (stable from the
stream, else the registry's production, else its newest version) and swaps the routing in.
It waits for the replay of the events written before the worker started, so a worker never
serves a state the others have left; while a version is missing it looks again every
``MOVIE_RECS_MODEL_RETRY_S``. It starts at the worker's first assignment
(``app.worker.early_task``): the model loads while the tables recover, not after, and
while the replay is still under way (``ModelHolder.preload``), not after it either.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from agents.broadcast import CatchUp, follow
from app import app
from app.deployment import Deployed, holder, load_off_loop
from app.registry import Registry
from app.rollout.commands import stable_version
from app.rollout.state import RolloutState
from app.settings import get_settings
from app.storage import open_store
from app.views import HEALTH_CHECKS
from app.worker import early_task
from tables.history import item_deltas

settings = get_settings()
log = logging.getLogger(__name__)
REPLAY_WAIT_S = 60.0
"""Longest a starting worker waits for the model-events replay before serving what it has."""
changed = asyncio.Event()
"""Set when the rollout state changed (or its replay finished)."""


def registry() -> Registry:
    return Registry(open_store(settings.registry, settings))


async def resolve_stable(state: RolloutState) -> str | None:
    return await stable_version(state, registry(), settings.serve_model)


async def load(name: str, version: str) -> Deployed:
    return await load_off_loop(registry, name, version)


@early_task("assignment")
async def keep_deployed() -> None:
    """Serve what the rollout state names, on every worker; retry while something is missing."""
    started = time.monotonic()
    preloaded = asyncio.ensure_future(holder.preload(settings.serve_model, resolve_stable, load))
    while not holder.state_ready and time.monotonic() - started < REPLAY_WAIT_S:
        await asyncio.sleep(0.1)
    if not holder.state_ready:
        log.warning("model-events not replayed after %.0fs; serving what is known", REPLAY_WAIT_S)
    await preloaded  # else apply would load the same version a second time
    while True:
        changed.clear()
        try:
            await holder.apply(settings.serve_model, holder.state, resolve_stable, load)
        except Exception:  # the registry unreachable, say: try again, keep serving
            log.exception("applying the rollout state failed")
        complete = holder.routing is not None and not holder.errors and not holder.last_error
        try:
            await asyncio.wait_for(changed.wait(), None if complete else settings.model_retry_s)
        except asyncio.TimeoutError:
            pass


async def on_interactions(records: list[Any]) -> None:
    counts = holder.trending_counts()
    if not counts:
        return
    for record in records:
        # A delta may combine several users' new interactions with one movie (one per batch).
        for delta in item_deltas(json.loads(record.value) if record.value else None):
            for _ in range(delta["new_watcher"] + delta["ratings"]):
                for trending in counts:
                    trending.update(delta["movie_id"], delta["ts"])


TRENDING_REPLAY = CatchUp()
"""The trending replay's progress: the worker is ready once it has counted what came before it started."""


@app.task
async def follow_interactions() -> None:
    """Feed every new interaction of the whole catalog into the trending counts of every loaded version.

    The counts live in the deployments, so the replay waits for the first model to load.
    """
    since = int(time.time() * 1000) - int(settings.trending_replay_days * 86_400_000)
    while not holder.trending_counts():
        await asyncio.sleep(0.2)
    await follow(settings, settings.topic("item-interactions"), on_interactions, since_ms=since,
                 progress=TRENDING_REPLAY)


async def trending_health() -> tuple[bool, dict[str, Any]]:
    """Ready once the trending replay has reached the end offsets taken at its start."""
    return TRENDING_REPLAY.caught_up, TRENDING_REPLAY.as_dict()


HEALTH_CHECKS.update(trending=trending_health)
