"""HTTP: ``GET /rollout/status`` (the arms, their figures, the decisions) and ``POST /rollout``.

Any worker answers both. The status comes from this worker's rollout state and the figures of
every worker (``agents.conversions.figures``). A POST is checked against the state and the
registry exactly as the CLI checks it (``app.rollout.commands``), and published on
``model-events`` only when it is valid; every worker (this one too) applies it from there.
"""
from __future__ import annotations

from typing import Any

from faust import web
from prometheus_client import REGISTRY

from agents.conversions import figures
from agents.deployments import registry
from agents.rollout import publish
from app import app
from app.auth import admin_only, public
from app.deployment import holder
from app.faust_app import worker_id
from app.rollout import report
from app.rollout.gauges import RolloutCollector
from app.rollout.commands import RolloutError, parse, plan
from app.settings import get_settings
from app.views import error

settings = get_settings()


def status_body() -> dict[str, Any]:
    """The rollout status of this worker's model, with every worker's figures."""
    routing = holder.routing
    stable = routing.stable.deployed.version if routing else None
    body = report.status(settings.serve_model, holder.state, stable, figures.merged(), settings.sequential_alpha)
    loaded = [{"model_name": d.name, "model_version": d.version, "memory_bytes": d.memory_bytes}
              for d in holder.loaded.values()]
    applied = routing is not None and routing.traffic == holder.state.traffic(settings.serve_model)
    return {**body, "state_ready": holder.state_ready, "applied": applied, "events": holder.state.events,
            "loaded": loaded,
            "last_load_error": holder.last_error or None, "served_by": worker_id(settings)}


REGISTRY.register(RolloutCollector())  # model info, canary percent, decisions: read at scrape time


@app.page("/rollout/status")
class RolloutStatus(web.View):
    """Stable, canary, experiment and shadow; every arm's figures and each trial's decision."""

    @public
    async def get(self, request: web.Request) -> web.Response:
        return self.json(status_body())


@app.page("/rollout")
class Rollout(web.View):
    """Start or change a rollout (admin token): canary, shadow, promote, rollback, A/B start and stop."""

    @admin_only
    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return error(self, 400, "bad body", f"the body is not JSON: {exc}")
        if not holder.state_ready:
            return error(self, 503, "not ready", "this worker has not replayed model-events yet")
        try:
            record = await plan(parse(body), holder.state, registry(), actor="http",
                                max_regression=settings.promote_max_regression)
        except RolloutError as exc:
            return error(self, exc.status, exc.error, exc.detail)
        await publish(record)
        return self.json({"published": record}, status=202)
