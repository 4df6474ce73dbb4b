"""HTTP views on the Faust web server (aiohttp); user routes run on the worker owning the user."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import aiohttp
from faust import web
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.snapshot_sink import STATUS as SNAPSHOT_STATUS
from app import app
from app.auth import public
from app.cluster import health_check as cluster_health
from app.cluster import rebuilding
from app.events import MAX_USER_ID
from app.partitioning import partition_of
from app.settings import get_settings
from tables import user_history
from tables.history import user_summary
from app.spam.quarantine import is_quarantined, standing
from tables.spam import spam_quarantine

STARTED = time.monotonic()
KAFKA_PROBE_TIMEOUT_S = 1.0
Handler = Callable[..., Awaitable[web.Response]]


def on_owner(table: Any, match_info: str) -> Callable[[Handler], Handler]:
    """``app.table_route`` with its common case, this worker owns the key, decided cheaply.

    Faust's router serializes the key, hashes it and parses two URLs on every request to
    find that out; here it is a cached hash and a set lookup, and only a key owned by
    another worker goes through Faust's router (which forwards the request there). While
    the key's partition is being rebuilt here, it answers 503: its state may be partial.
    """
    def decorator(fun: Handler) -> Handler:
        routed = app.table_route(table=table, match_info=match_info)(fun)
        changelog = table.changelog_topic.get_topic_name()

        @wraps(fun)
        async def handler(view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
            owner = TP(changelog, partition_of(request.match_info[match_info].encode(), table.partitions))
            if app.assignor.is_active(owner):
                if rebuilding(app, owner):
                    return error(view, 503, "recovering", "this key's tables are being rebuilt; retry shortly")
                return await fun(view, request, **kwargs)
            try:
                return await routed(view, request, **kwargs)
            except TypeError:  # Faust's router before the producer knows the changelog (start-up)
                return error(view, 503, "not ready", "this key's owner is not known yet; retry shortly")
            except (aiohttp.ClientError, OSError) as exc:  # the owner died; the group moves its partitions
                return error(view, 503, "owner unavailable", f"the worker owning this key does not answer: {exc}")
        return handler
    return decorator


def error(view: web.View, status: int, message: str, detail: str) -> web.Response:
    """The JSON error body every route uses: ``{error, detail}``."""
    return view.json({"error": message, "detail": detail}, status=status)


def parse_digits(raw: str, max_digits: int = 10) -> int | None:
    """A number written in at most ``max_digits`` ASCII digits, or None.

    ``str.isdigit`` alone also takes ``'²'`` and other scripts' digits, which ``int()``
    refuses or reads, and a long enough string makes ``int()`` itself raise.
    """
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= max_digits else None


def parse_user_id(raw: str) -> int | None:
    """A user id from a path segment, or None when it is not a positive 32-bit id."""
    user_id = parse_digits(raw)
    return user_id if user_id is not None and 0 < user_id <= MAX_USER_ID else None


def spam_summary(row: dict[str, Any] | None) -> dict[str, Any]:
    """The user's spam standing: quarantined or not, detections, and the last flag."""
    current = standing(row) or {}
    return {"quarantined": is_quarantined(row), "detections": current.get("detections", 0),
            "last_flag": current.get("last_flag")}


@app.page("/users/{user_id}")
class UserState(web.View):
    """An operator's look at one user's ingested state."""

    @public
    @on_owner(user_history, "user_id")
    async def get(self, request: web.Request, user_id: str) -> web.Response:
        parsed = parse_user_id(user_id)
        if parsed is None:
            return error(self, 400, "bad user_id", f"{user_id!r} is not a positive 32-bit integer")
        key = str(parsed).encode()
        state: Any = user_history.get(key)
        return self.json({**user_summary(parsed, state), "spam": spam_summary(spam_quarantine.get(key))})


@app.page("/metrics")
class Metrics(web.View):
    """Prometheus text exposition of this worker's metrics."""

    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


async def kafka_reachable() -> tuple[bool, bool]:
    """Whether a TCP connection to any bootstrap broker opens within a second."""
    for address in get_settings().kafka_bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)),
                                               KAFKA_PROBE_TIMEOUT_S)
        except (OSError, ValueError, asyncio.TimeoutError):
            continue
        writer.close()
        return True, True
    return False, False


async def snapshot_health() -> tuple[bool, dict[str, Any]]:
    """The snapshot sink: ok when it is off, or running with a store that takes writes."""
    return SNAPSHOT_STATUS.healthy, SNAPSHOT_STATUS.as_dict()


HEALTH_CHECKS: dict[str, Callable[[], Awaitable[tuple[bool, Any]]]] = {
    "kafka": kafka_reachable,
    "snapshots": snapshot_health,
    "cluster": cluster_health(app),
}
"""Each check answers (ok, what to show under its name); /health is 503 unless all are ok."""


async def health_report() -> tuple[int, dict[str, Any]]:
    """The /health status code and body."""
    names = list(HEALTH_CHECKS)
    results = await asyncio.gather(*(HEALTH_CHECKS[name]() for name in names))
    ok = all(passed for passed, _ in results)
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable"}
    body.update({name: shown for name, (_, shown) in zip(names, results, strict=True)})
    body["uptime_s"] = round(time.monotonic() - STARTED, 1)
    return (200 if ok else 503), body


@app.page("/health")
class Health(web.View):
    """Readiness: 200 when every check passes, else 503 with what failed."""

    async def get(self, request: web.Request) -> web.Response:
        status, body = await health_report()
        return self.json(body, status=status)
