"""One recommendation request answered: checked, routed to its arm, scored, with provenance.

Plain functions over plain data, shared by the Kafka agent and the HTTP view, so both give
the same answer and both are tested without Faust.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from app.deployment import Arm, Deployed, Routing, serve_alone
from app.events import MAX_USER_ID
from app.metrics import ARM_ERRORS
from models.bundle import Recommendation
from models.serving import recommend
from tables.history import UserState, seen_movies

MAX_K = 100
MAX_EXCLUDE = 1000
FAILURE_LOG_EVERY_S = 10.0
"""A failing arm is logged at most this often (every failure is counted)."""
log = logging.getLogger(__name__)
_last_failure_log: dict[tuple[str, str], float] = {}


class BadRequest(ValueError):
    """A request that cannot be answered as asked; ``str(exc)`` is the error for the client."""


@dataclass(frozen=True)
class Request:
    """A checked recommendation request."""

    request_id: str
    ts: int
    user_id: int
    k: int
    client_id: str
    exclude: tuple[int, ...]


def check_request(record: dict[str, Any]) -> Request:
    """A ``Request`` from a decoded ``RecoRequest``, or ``BadRequest`` saying what is wrong."""
    if not record.get("request_id"):
        raise BadRequest("request_id is empty")
    if not 0 < record["user_id"] <= MAX_USER_ID:
        raise BadRequest(f"user_id {record['user_id']} is not a positive 32-bit id")
    if not 1 <= record["k"] <= MAX_K:
        raise BadRequest(f"k {record['k']} is outside 1..{MAX_K}")
    if len(record["exclude"]) > MAX_EXCLUDE:
        raise BadRequest(f"exclude has {len(record['exclude'])} ids, more than {MAX_EXCLUDE}")
    return Request(record["request_id"], record["ts"], record["user_id"], record["k"],
                   record.get("client_id", ""), tuple(record["exclude"]))


def response(request_id: str, user_id: int, k: int, started: float, served_by: str, *,
             status: int = 200, error: str | None = None, deployed: Deployed | None = None,
             movie_ids: list[int] | None = None, scores: list[float] | None = None,
             strategy: str = "", arm: str = "") -> dict[str, Any]:
    """A ``RecoResponse`` record; an error response carries whatever provenance exists."""
    card = deployed.card if deployed else {}
    return {
        "request_id": request_id, "ts": int(time.time() * 1000), "user_id": user_id,
        "status": status, "error": error, "k": k, "movie_ids": movie_ids or [],
        "scores": scores or [], "strategy": strategy,
        "model_name": card.get("model_name", ""), "model_version": card.get("version", ""),
        "arm": arm, "git_sha": card.get("git_sha", ""),
        "data_snapshot_id": card.get("data_snapshot_id", ""), "served_by": served_by,
        "latency_ms": (time.perf_counter() - started) * 1000.0,
    }


@dataclass(frozen=True)
class Answer:
    """A response and what the rollout figures need: the arm that answered, an arm that failed."""

    response: dict[str, Any]
    arm: Arm | None = None
    """The arm whose list was served (None when no model answered)."""
    failed: tuple[tuple[Arm, float], ...] = ()
    """Arms whose model raised, and how long each took to; the user got stable's list instead."""
    repeat: bool = False
    """The answer traced for this request id before, given again: counted once."""


def score(deployed: Deployed, request: Request, state: UserState | None) -> Recommendation:
    """The deployed version's list for a checked request and the user's live state.

    Movies the user watched or rated (per the live table) and the request's exclusions are
    never recommended.
    """
    history = [movie for _, movie, _ in state["recent"]] if state else []
    exclude = [*request.exclude, *(seen_movies(state) if state else ())]
    return recommend(deployed.bundle, request.user_id, request.k, history=history, exclude=exclude,
                     trending=deployed.trending, config=deployed.policy)


def _log_failure(arm: Arm, exc: Exception) -> None:
    key, now = (arm.trial, arm.name), time.monotonic()
    if now - _last_failure_log.get(key, -FAILURE_LOG_EVERY_S) >= FAILURE_LOG_EVERY_S:
        _last_failure_log[key] = now
        log.warning("arm %s (%s %s) failed, answering from stable: %r", arm.name, arm.deployed.name,
                    arm.deployed.version, exc)


def answer_arm(request: Request, state: UserState | None, routing: Routing | Deployed | None, served_by: str,
               started: float) -> Answer:
    """The answer to a checked request from the arm the user is assigned to.

    An arm whose model raises is counted as failed and the user gets stable's list; when
    stable raises too the answer is a 500. 503 when no model is loaded yet.
    """
    if isinstance(routing, Deployed):
        routing = serve_alone(routing)
    if routing is None:
        return Answer(response(request.request_id, request.user_id, request.k, started, served_by,
                               status=503, error="no model is loaded yet"))
    arm, failed = routing.arm_for(request.user_id), ()
    for attempt in (arm, routing.stable) if arm is not routing.stable else (arm,):
        try:
            found = score(attempt.deployed, request, state)
        except Exception as exc:  # a broken version must not fail the user: stable answers
            ARM_ERRORS.labels(attempt.name).inc()
            _log_failure(attempt, exc)
            failed += ((attempt, (time.perf_counter() - started) * 1000.0),)
            error = f"the model failed: {exc!r}"
            continue
        return Answer(response(request.request_id, request.user_id, request.k, started, served_by,
                               deployed=attempt.deployed, movie_ids=found.movie_ids, scores=found.scores,
                               strategy=found.strategy, arm=attempt.name), attempt, failed)
    return Answer(response(request.request_id, request.user_id, request.k, started, served_by, status=500,
                           error=error, deployed=routing.stable.deployed, arm="stable"), None, failed)


def answer(request: Request, state: UserState | None, deployed: Routing | Deployed | None, served_by: str,
           started: float) -> dict[str, Any]:
    """The response to a checked request (see ``answer_arm``), given the user's live state."""
    return answer_arm(request, state, deployed, served_by, started).response
