"""Trace agent: keeps every served answer by request id, for a bounded time, for ``/trace``."""
from __future__ import annotations

import time
from typing import Any

from agents.topics import reco_traces
from app import app
from app.settings import get_settings
from tables import traces

settings = get_settings()


@app.agent(reco_traces)
async def record_traces(stream: Any) -> None:
    """Write each trace under its request id (the topic's key, so the row is local)."""
    async for batch in stream.take(settings.batch_size, within=settings.batch_within_s):
        now_ms = int(time.time() * 1000)
        for trace in batch:
            traces[trace["response"]["request_id"].encode()] = {**trace, "recorded_at": now_ms}


@app.timer(interval=60.0)
async def expire_traces() -> None:
    """Drop traces older than the retention setting."""
    cutoff = int(time.time() * 1000) - int(settings.trace_retention_s * 1000)
    for key in [k for k, row in traces.items() if row["recorded_at"] < cutoff]:
        del traces[key]
