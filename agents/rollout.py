"""The rollout state on every worker, and what only the leader does: the canary guard, retraining.

Every worker follows ``model-events`` from the beginning with its own group-less consumer and
folds each event into ``holder.state`` (``app.rollout.state``); the deployer
(``agents.deployments``) serves what the state names. The leader alone (Faust's
``on_leader`` timers: exactly one worker of the group at a time) judges canaries with the
merged figures of every worker and publishes a ``rollback`` when one breaks its SLOs, and
starts the scheduled retraining; the others follow the events they publish.
"""
from __future__ import annotations

import logging
from datetime import timezone
from typing import Any

from agents import topics
from agents.broadcast import CatchUp, follow
from agents.conversions import figures
from agents.deployments import changed
from app import app
from app.deployment import holder
from app.exceptions import DecodeError
from app.faust_app import worker_id
from app.metrics import ROLLBACKS
from app.retrain import run_process
from app.rollout.commands import event
from app.rollout.guard import GuardRules, check
from app.rollout.state import fold
from app.schema_registry import codec_for
from app.settings import get_settings
from app.worker import early_task

settings = get_settings()
log = logging.getLogger(__name__)
MODEL_EVENT = codec_for("ModelEvent", settings.topic("model-events"))
RULES = GuardRules.from_settings(settings)


async def publish(record: dict[str, Any]) -> None:
    """A ``ModelEvent`` on ``model-events``, keyed by its model, once Kafka has it."""
    sent = await topics.model_events.send(key=record["model_name"].encode(), value=MODEL_EVENT.encode(record))
    await sent


async def on_model_events(records: list[Any]) -> None:
    state = holder.state
    for record in records:
        try:
            decoded = MODEL_EVENT.decode(record.value)
        except DecodeError as exc:
            log.warning("model-events offset %d is unreadable, skipped: %s", record.offset, exc)
            continue
        state = fold(state, decoded)
        if holder.state_ready:
            log.info("model event: %s %s %s %s%s", decoded["action"], decoded["model_name"], decoded["model_version"],
                     decoded["experiment"], f" ({decoded['reason']})" if decoded["reason"] else "")
    holder.state = state
    changed.set()


def replayed() -> None:
    holder.state_ready = True
    log.info("rollout state replayed: %d model events", holder.state.events)
    changed.set()


@early_task("start")  # mostly network waits: replayed while the worker joins its group
async def follow_model_events() -> None:
    """Fold every model event, those before this worker started first."""
    await follow(settings, settings.topic("model-events"), on_model_events, since_ms=0,
                 progress=CatchUp(on_caught_up=replayed))


class Guard:
    """The canary guard of the leader; remembers the trials it rolled back (their event is on its way)."""

    def __init__(self, rules: GuardRules) -> None:
        self.rules = rules
        self.acted: set[str] = set()

    async def check_all(self) -> list[dict[str, Any]]:
        """Roll back every canary that breaks its SLOs or converts worse; the events published."""
        if not holder.state_ready:
            return []
        merged, published = figures.merged(), []
        for name, traffic in holder.state.models.items():
            canary = traffic.canary
            if canary is None or canary.trial in self.acted:
                continue
            breach = check(merged.get((canary.trial, "canary")), merged.get((canary.trial, "stable")), self.rules)
            if breach is None:
                continue
            self.acted.add(canary.trial)
            record = event("rollback", name, canary.model_version, actor=f"guard:{worker_id(settings)}",
                           reason=breach.reason, arm="canary")
            await publish(record)
            ROLLBACKS.labels(name, breach.trigger).inc()
            log.warning("canary %s %s rolled back: %s", name, canary.model_version, breach.reason)
            published.append(record)
        return published


guard = Guard(RULES)


@app.timer(interval=settings.canary_guard_interval_s, on_leader=True)
async def guard_canaries() -> None:
    """Judge every canary, on the leader only."""
    await guard.check_all()


if settings.retrain_crontab:
    @app.crontab(settings.retrain_crontab, timezone=timezone.utc, on_leader=True)
    async def scheduled_retraining() -> None:
        """Retrain in a child process, on the leader only (``app.retrain``)."""
        await run_process(settings)
