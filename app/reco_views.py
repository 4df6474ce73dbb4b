"""HTTP: recommendations and traces; user-keyed routes run on the user's owner (rollouts: ``app.rollout_views``)."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from faust import web

from agents.answer_records import answer_records
from agents.recommend import serve
from app import app
from app.auth import API_KEY_HEADER, public
from app.deployment import holder
from app.observability import tracing
from app.registry import Registry, RegistryError
from app.partitioning import partition_of, user_key
from app.serving import MAX_K
from app.settings import get_settings
from app.storage import open_store
from app.views import HEALTH_CHECKS, error, on_owner, parse_digits, parse_user_id
from tables import trace_key, traces, user_history
from tables.catalog import title_of

settings = get_settings()
OPENAPI = Path(__file__).parent / "openapi.json"
DATA_MANIFEST = "data_manifest.json"


def parse_k(raw: str | None) -> int | None:
    """``k`` from a query string: 1..100, 10 when absent, None when invalid."""
    if raw is None:
        return 10
    k = parse_digits(raw)
    return k if k is not None and 1 <= k <= MAX_K else None


def parse_exclude(raw: str | None) -> list[int] | None:
    """``exclude=3,4`` as ids; None when it is not a comma-separated list of ids."""
    if not raw:
        return []
    parts = [parse_digits(p.strip()) for p in raw.split(",")]
    ids = [p for p in parts if p is not None]
    return ids if len(ids) == len(parts) else None


def movies_with_titles(result: dict[str, Any], titles: dict[int, str]) -> list[dict[str, Any]]:
    """The answer's movies with titles: the live catalog table first, the model's catalog.json second."""
    return [{"movie_id": m, "title": title_of(m) or titles.get(m, ""), "score": s}
            for m, s in zip(result["movie_ids"], result["scores"])]


@app.page("/recommend/{user_id}")
class Recommend(web.View):
    """Top-k movies for a user, with the provenance of the answer."""

    @public
    @on_owner(user_history, "user_id")
    async def get(self, request: web.Request, user_id: str) -> web.Response:
        started = time.perf_counter()
        parsed, k = parse_user_id(user_id), parse_k(request.query.get("k"))
        exclude = parse_exclude(request.query.get("exclude"))
        if parsed is None:
            return error(self, 400, "bad user_id", f"{user_id!r} is not a positive 32-bit integer")
        if k is None:
            return error(self, 400, "bad k", f"k must be an integer in 1..{MAX_K}")
        if exclude is None:
            return error(self, 400, "bad exclude", "exclude must be comma-separated movie ids")
        record = {"request_id": uuid.uuid4().hex, "ts": int(time.time() * 1000), "user_id": parsed,
                  "k": k, "client_id": request.headers.get("X-Client-Id", "http"), "exclude": exclude}
        answered = serve(record, started)
        result = answered.response
        headers = tracing.http_answered(request, record, started, "/recommend/{user_id}",
                                        settings.topic("reco-responses"))
        # every answer is recorded and counted, a 503 before a model is loaded too
        answer_records.add(result, record, partition_of(user_key(parsed), settings.partitions), via="http",
                           answered=answered, headers=headers)
        if result["status"] != 200:
            return error(self, result["status"], "not served", result["error"] or "")
        provenance = {key: result[key] for key in ("request_id", "model_name", "model_version", "arm", "git_sha",
                                                   "data_snapshot_id", "strategy", "served_by", "latency_ms", "ts")}
        titles = answered.arm.deployed.titles if answered.arm else {}
        return self.json({"user_id": parsed, "movies": movies_with_titles(result, titles), "provenance": provenance})


async def model_provenance(response: dict[str, Any]) -> dict[str, Any]:
    """The card of the version that served ``response`` and the manifest of its data."""
    reg = Registry(open_store(settings.registry, settings))
    try:
        card = await reg.card(response["model_name"], response["model_version"])
    except RegistryError as exc:
        return {"model_card": None, "data_manifest": None, "note": str(exc)}
    manifest = None
    if DATA_MANIFEST in card.get("extras", {}):
        manifest = json.loads(await reg.extra(card["model_name"], card["version"], DATA_MANIFEST))
    return {"model_card": {k: v for k, v in card.items() if k != "tuning"}, "data_manifest": manifest}


def local_trace(request_id: str) -> dict[str, Any] | None:
    """The trace of ``request_id`` if this worker holds it (on whichever user's partition)."""
    for partition in range(settings.partitions):
        trace = traces.row(trace_key(partition, request_id))
        if trace is not None:
            return trace
    return None


async def trace_elsewhere(request_id: str, headers: dict[str, str]) -> dict[str, Any] | None:
    """Ask the other workers that hold traces (with the caller's API key); a request id does not tell whose partition it is."""
    here = str(app.conf.canonical_url).rstrip("/")
    for url, topics in app.router.table_metadata(traces.name).items():
        if url.rstrip("/") == here or not any(topics.values()):
            continue
        async with app.http_client.get(f"{url.rstrip('/')}/trace/{request_id}", params={"local": "1"},
                                       headers=headers) as reply:
            if reply.status == 200:
                return await reply.json()
    return None


@app.page("/trace/{request_id}")
class Trace(web.View):
    """What was asked, what was answered, and the model and data behind the answer."""

    @public
    async def get(self, request: web.Request, request_id: str) -> web.Response:
        trace = local_trace(request_id)
        if trace is None:
            found = None if "local" in request.query else await trace_elsewhere(
                request_id, {API_KEY_HEADER: request.headers[API_KEY_HEADER]} if API_KEY_HEADER in request.headers else {})
            if found is not None:
                return self.json(found)
            return error(self, 404, "unknown request_id",
                         f"no trace of {request_id!r} (unknown, or older than the retention)")
        extra = await model_provenance(trace["response"]) if trace["response"]["model_name"] else {}
        return self.json({**trace, **extra})


@app.page("/openapi.json")
class OpenAPI(web.View):
    """The OpenAPI document of this HTTP API (kept in the repo as app/openapi.json)."""

    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(OPENAPI.read_bytes(), content_type="application/json")


async def model_health() -> tuple[bool, dict[str, Any]]:
    """Ready to serve once the stable version is loaded; every loaded version is listed."""
    current = holder.current
    return current is not None, {"serving": holder.describe(), "last_error": holder.last_error or None,
                                 "rollout_state_replayed": holder.state_ready,
                                 "versions_loaded": [f"{name} {version}" for name, version in holder.loaded]}


async def tables_health() -> tuple[bool, dict[str, Any]]:
    """Tables are recovered from their changelogs before a worker serves from them."""
    recovered = app.tables.recovery.completed.is_set()
    return recovered, {"recovered": recovered}


HEALTH_CHECKS.update(model=model_health, tables=tables_health)
