"""Retraining: train from recent snapshots, gate against production, start the result as a canary.

``movie-recs retrain`` runs the pipeline in its own process; the leader's crontab
(``agents.rollout``) starts that same command as a child process, so training never runs in
a worker. The pipeline is the one ``movie-recs train`` runs (``app.model_cli.train_and_register``)
on the snapshots of the last ``MOVIE_RECS_RETRAIN_WINDOW_DAYS``, without the users that
``MOVIE_RECS_QUARANTINE_SOURCE`` names, followed by the registry's quality gate against
production. Only a version the gate accepts is started, as a canary for
``MOVIE_RECS_RETRAIN_CANARY_PERCENT`` of users (the canary guard takes it from there).

Outcomes: ``canary`` (started), ``gated`` (the gate refused: the version stays registered but
is never staged or served), ``skipped`` (no production version to compare with, or a canary
or experiment is running), ``failed`` (an error). Nothing is served differently unless the
outcome is ``canary``.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from app.metrics import RETRAIN_LAST_RUN, RETRAIN_LAST_SUCCESS, RETRAIN_RUNS
from app.registry import GateRefused, Registry
from app.rollout.commands import event
from app.settings import Settings
from app.storage import open_store

log = logging.getLogger(__name__)
RESULT_PREFIX = "retrain-result: "


@dataclass(frozen=True)
class RetrainResult:
    outcome: str
    """``canary``, ``gated``, ``skipped`` or ``failed``."""
    model_name: str
    model_version: str = ""
    reason: str = ""
    seconds: float = 0.0


async def excluded_users(settings: Settings) -> frozenset[int]:
    """The user ids training must leave out: what ``MOVIE_RECS_QUARANTINE_SOURCE`` returns.

    The source is ``module:function``; the function takes the settings and returns (or
    awaits to) an iterable of user ids. Empty: nobody is excluded.
    """
    if not settings.quarantine_source:
        return frozenset()
    module, _, function = settings.quarantine_source.partition(":")
    source = getattr(importlib.import_module(module), function)
    found: Any = source(settings)
    if inspect.isawaitable(found):
        found = await found
    return frozenset(int(user) for user in found)


async def retrain(settings: Settings, state: Any, publish: Any, *, now: datetime | None = None) -> RetrainResult:
    """Run the pipeline once for ``MOVIE_RECS_SERVE_MODEL``; ``publish`` sends the canary event.

    ``state`` is the current rollout state (``app.rollout.state.RolloutState``).
    """
    from app.model_cli import train_and_register

    name, started = settings.serve_model, time.monotonic()
    registry = Registry(open_store(settings.registry, settings))
    production = (await registry.stages(name))["production"]
    if production is None:
        return RetrainResult("skipped", name, reason=f"{name} has no production version to gate against")
    trial = state.traffic(name).trial
    if trial is not None:
        return RetrainResult("skipped", name, reason=f"{name} has a trial running ({trial.trial})")
    now = now or datetime.now(timezone.utc)
    since = (now - timedelta(days=settings.retrain_window_days)).replace(minute=0, second=0, microsecond=0)
    excluded = await excluded_users(settings)
    versions = await train_and_register(settings, name, "", since.replace(tzinfo=None).isoformat(), None,
                                        excluded_users=excluded, say=log.info)
    version = versions[name]
    try:
        gate = await registry.check_gate(name, version, settings.promote_max_regression)
    except GateRefused as exc:
        return RetrainResult("gated", name, version, str(exc), time.monotonic() - started)
    reason = (f"retrained on snapshots since {since:%Y-%m-%dT%H}, {len(excluded)} users excluded; "
              f"gate: {gate}")
    await publish(event("canary", name, version, actor="retrain", percent=settings.retrain_canary_percent,
                        reason=reason))
    return RetrainResult("canary", name, version, reason, time.monotonic() - started)


def count(result: RetrainResult) -> None:
    """The outcome in metrics and the log."""
    RETRAIN_RUNS.labels(result.outcome).inc()
    RETRAIN_LAST_RUN.labels(result.outcome).set(time.time())
    if result.outcome == "canary":  # a version registered and started: the model is fresh
        RETRAIN_LAST_SUCCESS.set(time.time())
    level = logging.INFO if result.outcome in ("canary", "skipped") else logging.WARNING
    log.log(level, "retraining %s: %s %s %s", result.model_name, result.outcome, result.model_version,
            result.reason)


def result_line(result: RetrainResult) -> str:
    """The last line ``movie-recs retrain --json`` prints, which the leader reads."""
    return RESULT_PREFIX + json.dumps(asdict(result))


def parse_result(lines: Iterable[str], model_name: str, returncode: int) -> RetrainResult:
    for line in reversed(list(lines)):
        if line.startswith(RESULT_PREFIX):
            return RetrainResult(**json.loads(line[len(RESULT_PREFIX):]))
    return RetrainResult("failed", model_name, reason=f"the retraining process exited {returncode} without a result")


async def run_process(settings: Settings) -> RetrainResult:
    """``movie-recs retrain --json`` in a child process, within ``MOVIE_RECS_RETRAIN_TIMEOUT_S``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "retrain", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), settings.retrain_timeout_s)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        result = RetrainResult("failed", settings.serve_model,
                               reason=f"the retraining process ran over {settings.retrain_timeout_s:.0f}s")
    else:
        lines = output.decode(errors="replace").splitlines()
        result = parse_result(lines, settings.serve_model, process.returncode)
        if result.outcome == "failed":
            log.warning("retraining output:\n%s", "\n".join(lines[-30:]))
    count(result)
    return result
