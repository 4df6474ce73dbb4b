"""Trace retention: served answers stay in the ``traces`` table for a bounded time."""
from __future__ import annotations

import time

from app import app
from app.settings import get_settings
from tables import traces

settings = get_settings()


@app.timer(interval=60.0)
async def expire_traces() -> None:
    """Drop traces older than the retention setting."""
    traces.expire(int(time.time() * 1000) - int(settings.trace_retention_s * 1000))
