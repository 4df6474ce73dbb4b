"""Who may call a route: the admin token for every mutating route, API keys for the public ones.

Mutating routes (rollout, clearing a user's flag, anything that publishes) take
``Authorization: Bearer <MOVIE_RECS_ADMIN_TOKEN>``. A missing token is 401, a wrong one 403;
with no token configured every mutating request is refused (401), so a worker is never
open for writes by accident.

Public read routes (``public``) take ``X-API-Key: <key>`` when ``MOVIE_RECS_API_KEY_SHA256``
lists the SHA-256 digests of accepted keys (only digests are configured, so a leaked
settings file leaks no key), and are rate-limited per key, else per remote address, with
429 and ``Retry-After``. Every comparison is constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from faust import web

from app.metrics import AUTH_DENIED
from app.ratelimit import HTTP, Limiter
from app.settings import Settings, get_settings

Handler = Callable[..., Awaitable[web.Response]]


class Denied(Exception):
    """A request without the right credentials; ``status`` is 401 or 403."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def bearer(headers: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_admin(headers: Any, settings: Settings) -> None:
    """Raise ``Denied`` unless the headers carry the configured admin token."""
    if not settings.admin_token:
        raise Denied(401, "no admin token is configured on this worker (MOVIE_RECS_ADMIN_TOKEN)")
    token = bearer(headers)
    if token is None:
        raise Denied(401, "this route needs 'Authorization: Bearer <admin token>'")
    if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        raise Denied(403, "the admin token is wrong")


API_KEY_HEADER = "X-API-Key"


def check_api_key(headers: Any, settings: Settings) -> str | None:
    """The digest of the request's valid API key; None when keys are off; else ``Denied``.

    The presented key's digest is compared with every accepted digest, none skipped, so the
    time taken says nothing about which one came close.
    """
    accepted = [d for d in settings.api_key_sha256.split(",") if d]
    if not accepted:
        return None
    key = (headers.get(API_KEY_HEADER) or "").strip()
    if not key:
        raise Denied(401, f"this route needs an '{API_KEY_HEADER}' header")
    digest = hashlib.sha256(key.encode()).hexdigest()
    matched = False
    for candidate in accepted:
        matched |= hmac.compare_digest(digest, candidate)
    if not matched:
        raise Denied(403, "the API key is not accepted")
    return digest


def denied(view: web.View, exc: Denied, scheme: str) -> web.Response:
    """The JSON 401/403 answer, counted."""
    AUTH_DENIED.labels(str(exc.status)).inc()
    error = "unauthorized" if exc.status == 401 else "forbidden"
    return view.json({"error": error, "detail": exc.detail}, status=exc.status,
                     headers={"WWW-Authenticate": scheme} if exc.status == 401 else None)


def admin_only(fun: Handler) -> Handler:
    """Decorate a ``web.View`` method so it runs only for the admin token (else JSON 401/403)."""
    @wraps(fun)
    async def handler(view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
        try:
            check_admin(request.headers, get_settings())
        except Denied as exc:
            return denied(view, exc, "Bearer")
        return await fun(view, request, **kwargs)
    return handler


def public(fun: Handler, limiter: Limiter = HTTP) -> Handler:
    """Decorate a public ``web.View`` method: API key when keys are on, then the HTTP rate limit.

    Put it outermost (above ``on_owner``) so a request is checked on the worker it reached
    first; a forwarded one is checked again by its owner, whose limiter sees the forwarding
    worker's address when keys are off (list the workers in ``MOVIE_RECS_RATE_LIMIT_EXEMPT``).
    """
    @wraps(fun)
    async def handler(view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
        settings = get_settings()
        try:
            digest = check_api_key(request.headers, settings)
        except Denied as exc:
            return denied(view, exc, API_KEY_HEADER)
        remote = request.remote or ""
        exempt = remote in {a.strip() for a in settings.rate_limit_exempt.split(",") if a.strip()}
        wait = 0.0 if exempt else limiter.check(f"key:{digest}" if digest else f"addr:{remote}")
        if wait:
            return view.json({"error": "rate limited",
                              "detail": f"over {settings.http_rate_per_s:g} requests/s "
                                        f"(burst {settings.http_burst}); retry in {wait:.2f} s"},
                             status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return await fun(view, request, **kwargs)
    return handler
