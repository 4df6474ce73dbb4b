"""One recommendation request answered: checked, routed to its arm, scored, with provenance.

Plain functions over plain data, shared by the Kafka agent and the HTTP view, so both give
the same answer and both are tested without Faust.
"""
from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.deployment import Arm, Deployed, Routing, serve_alone
from app.events import MAX_USER_ID
from app.metrics import ARM_ERRORS
from models.bundle import ModelBundle, Recommendation
from models.fairness import Catalog
from models.rerank import Candidates, Context, GenreProvider, SpecError, ThompsonSampler, parse
from models.serving import recommend
from tables.catalog import genres_of
from tables.history import UserState, seen_movies

MAX_K = 100
MAX_EXCLUDE = 1000
ARM = "stable"
"""The arm of every user no canary or experiment takes."""
GENRES = GenreProvider(genres_of)
"""Where re-rankers read genres: the catalog's global table, which every worker keeps from ``movies``."""
EXPLORATION = ThompsonSampler()
"""Per-movie conversion evidence of the exploring arms: exposures and conversions feed it."""
FAILURE_LOG_EVERY_S = 10.0
"""A failing arm is logged at most this often (every failure is counted)."""
_contexts: weakref.WeakKeyDictionary[ModelBundle, Context] = weakref.WeakKeyDictionary()
_refused_specs: set[str] = set()
_last_failure_log: dict[tuple[str, str], float] = {}
log = logging.getLogger(__name__)


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


def rerank_context(bundle: ModelBundle) -> Context:
    """The re-rankers' view of a deployed model: its training popularity (the tiers), built once per model."""
    context = _contexts.get(bundle)
    if context is None:
        popularity = np.asarray(bundle.model.popularity, dtype=np.float64)
        catalog = Catalog(np.asarray(bundle.maps.items.raw, dtype=np.int64), popularity)
        context = _contexts[bundle] = Context(catalog, GENRES, EXPLORATION)
    return context


def reranker_of(spec: str | None) -> Any:
    """The re-ranker of an arm's spec; a bad spec is logged (once) and served without re-ranking, never a 500."""
    try:
        return parse(spec)
    except SpecError as exc:
        if spec not in _refused_specs:
            _refused_specs.add(str(spec))
            log.warning("arm re-ranker %r ignored: %s", spec, exc)
        return None


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


def score(deployed: Deployed, request: Request, state: UserState | None, reranker: str | None = None) -> Recommendation:
    """The deployed version's list for a checked request and the user's live state.

    Movies the user watched or rated (per the live table) and the request's exclusions are
    never recommended. With a ``reranker`` spec (the arm's, see :func:`models.rerank.parse`)
    ``k x depth`` candidates are scored and re-ranked.
    """
    history = [movie for _, movie, _ in state["recent"]] if state else []
    exclude = [*request.exclude, *(seen_movies(state) if state else ())]
    chain = reranker_of(reranker)
    pool = request.k * chain.depth if chain else request.k
    last_active = max((ts for ts, _, _ in state["recent"]), default=None) if state else None
    found = recommend(deployed.bundle, request.user_id, pool, history=history, exclude=exclude,
                      trending=deployed.trending, last_active=last_active, config=deployed.policy)
    movie_ids, scores = found.movie_ids, found.scores
    if chain is not None and movie_ids:
        ranked = chain(Candidates.of(movie_ids, scores), request.k, rerank_context(deployed.bundle))
        movie_ids = [int(m) for m in ranked.movie_ids[:request.k]]
        scores = [float(s) for s in ranked.scores[:request.k]]
    return Recommendation(list(movie_ids), list(scores), found.strategy)


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
            found = score(attempt.deployed, request, state, attempt.reranker)
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
           started: float, *, reranker: str | None = None) -> dict[str, Any]:
    """The response to a checked request (see ``answer_arm``), given the user's live state.

    ``reranker`` applies to a single deployment served alone (the arms of a routing carry their own).
    """
    if isinstance(deployed, Deployed):
        deployed = serve_alone(deployed, reranker)
    return answer_arm(request, state, deployed, served_by, started).response
