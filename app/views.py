"""HTTP views on the Faust web server (aiohttp); user routes run on the worker owning the user."""
from __future__ import annotations

from typing import Any

from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import app
from app.events import MAX_USER_ID
from tables import user_history
from tables.history import user_summary


def error(view: web.View, status: int, message: str, detail: str) -> web.Response:
    """The JSON error body every route uses: ``{error, detail}``."""
    return view.json({"error": message, "detail": detail}, status=status)


def parse_user_id(raw: str) -> int | None:
    """A user id from a path segment, or None when it is not a positive 32-bit id."""
    if not raw.isdigit():
        return None
    user_id = int(raw)
    return user_id if 0 < user_id <= MAX_USER_ID else None


@app.page("/users/{user_id}")
class UserState(web.View):
    """An operator's look at one user's ingested state."""

    @app.table_route(table=user_history, match_info="user_id")
    async def get(self, request: web.Request, user_id: str) -> web.Response:
        parsed = parse_user_id(user_id)
        if parsed is None:
            return error(self, 400, "bad user_id", f"{user_id!r} is not a positive 32-bit integer")
        state: Any = user_history.get(str(parsed).encode())
        return self.json(user_summary(parsed, state))


@app.page("/metrics")
class Metrics(web.View):
    """Prometheus text exposition of this worker's metrics."""

    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
