"""Shadow scoring: a shadow version answers every request too, after the user has been answered.

``submit`` only queues (bounded: beyond ``MOVIE_RECS_SHADOW_BACKLOG`` a request is not
shadow-scored, and that is counted); a task scores the queue between other work, logs each
shadow list beside the served one on the ``movierecs.shadow`` logger (one JSON line each),
and counts the shadow's time, failures and overlap with the served list in its figures
(arm ``shadow``), so /rollout/status compares it with what users got.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

from app import app
from app.deployment import Deployed
from app.metrics import SHADOW_ANSWERS, SHADOW_OVERLAP
from app.partitioning import partition_of, user_key
from app.rollout import stats
from app.rollout.state import Shadow
from app.serving import Request, score
from app.settings import get_settings
from tables import arm_stats
from tables.history import UserState

settings = get_settings()
log = logging.getLogger("movierecs.shadow")
Job = tuple[Shadow, Deployed, Request, "UserState | None", dict[str, Any]]


class ShadowQueue:
    """Requests waiting for the shadow version, oldest first."""

    def __init__(self, limit: int) -> None:
        self._jobs: deque[Job] = deque()
        self._limit = limit
        self._ready = asyncio.Event()

    def submit(self, shadow: tuple[Shadow, Deployed], request: Request, state: UserState | None,
               served: dict[str, Any]) -> None:
        if len(self._jobs) >= self._limit:
            SHADOW_ANSWERS.labels("dropped").inc()
            return
        self._jobs.append((*shadow, request, state, served))
        self._ready.set()

    def score_one(self) -> None:
        spec, deployed, request, state, served = self._jobs.popleft()
        started = time.perf_counter()
        try:
            found = score(deployed, request, state)
        except Exception as exc:  # a broken shadow is what shadows are for: counted, never raised
            overlap, movie_ids = None, []
            SHADOW_ANSWERS.labels("error").inc()
            log.warning("shadow %s %s failed on %s: %r", spec.model_name, spec.model_version, request.request_id, exc)
        else:
            movie_ids = found.movie_ids
            overlap = len(set(movie_ids) & set(served["movie_ids"])) / max(1, len(served["movie_ids"]))
            SHADOW_ANSWERS.labels("scored").inc()
            SHADOW_OVERLAP.observe(overlap)
        latency_ms = (time.perf_counter() - started) * 1000.0
        partition = partition_of(user_key(request.user_id), settings.partitions)
        stats.record_shadow(arm_stats.row(partition, spec.trial, "shadow", *deployed.key), latency_ms, overlap)
        if overlap is not None:
            log.info(json.dumps({"request_id": request.request_id, "user_id": request.user_id,
                                 "served_arm": served["arm"], "served_version": served["model_version"],
                                 "served": served["movie_ids"], "shadow_model": spec.model_name,
                                 "shadow_version": spec.model_version, "shadow": movie_ids,
                                 "overlap": round(overlap, 3), "shadow_ms": round(latency_ms, 3)}))

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._jobs:
                self.score_one()
                await asyncio.sleep(0)  # answers waiting on the loop go first


shadows = ShadowQueue(settings.shadow_backlog)


@app.task
async def score_shadows() -> None:
    """Score the shadow version's lists while the worker runs."""
    await shadows.run()
