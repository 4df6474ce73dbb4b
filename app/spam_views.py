"""Admin route of spam detection: lift a user's quarantine by publishing a ``cleared`` flag."""
from __future__ import annotations

from faust import web

from agents.topics import user_flags
from app import app
from app.auth import admin_only
from app.partitioning import user_key
from app.schema_registry import codec_for
from app.settings import get_settings
from app.spam.quarantine import CLEARED, cleared_record
from app.views import error, parse_user_id

FLAG_CODEC = codec_for("UserFlag", get_settings().topic("user-flags"))


@app.page("/users/{user_id}/clear")
class ClearUser(web.View):
    """``POST`` clears the user's spam flag: the quarantine is the fold of ``user-flags``."""

    @admin_only
    async def post(self, request: web.Request, user_id: str) -> web.Response:
        parsed = parse_user_id(user_id)
        if parsed is None:
            return error(self, 400, "bad user_id", f"{user_id!r} is not a positive 32-bit integer")
        await user_flags.send(key=user_key(parsed), value=FLAG_CODEC.encode(cleared_record(parsed)))
        return self.json({"user_id": parsed, "action": CLEARED}, status=202)
