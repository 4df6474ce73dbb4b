"""Who may call a route: the admin token for every mutating route, compared in constant time.

Mutating routes (rollout, clearing a user's flag, anything that publishes) take
``Authorization: Bearer <MOVIE_RECS_ADMIN_TOKEN>``. A missing token is 401, a wrong one 403;
with no token configured every mutating request is refused (401), so a worker is never
open for writes by accident.
"""
from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from faust import web

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


def admin_only(fun: Handler) -> Handler:
    """Decorate a ``web.View`` method so it runs only for the admin token (else JSON 401/403)."""
    @wraps(fun)
    async def handler(view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
        try:
            check_admin(request.headers, get_settings())
        except Denied as exc:
            error = "unauthorized" if exc.status == 401 else "forbidden"
            return view.json({"error": error, "detail": exc.detail}, status=exc.status,
                             headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
        return await fun(view, request, **kwargs)
    return handler
