"""HTTP: ``GET /fairness?arm=&window=``, the exposure figures of one arm, on the worker that holds them.

An arm's exposure rows live on the partition of its key (``agents.exposure``); a worker that
does not own it forwards the request there through Faust's router. The popularity tiers
come from the served model's training interactions, so no model means 503, not a guess.
"""
from __future__ import annotations

import re
import time
from typing import Any

from faust import web
from faust.exceptions import SameNode
from faust.types import TP

from app import app
from app.auth import public
from app.deployment import Deployed, holder
from app.partitioning import partition_of
from app.serving import ARM, rerank_context
from app.settings import get_settings
from app.views import error
from models.fairness import FairnessSummary, summarise
from tables import exposure_windows
from tables.exposure import WINDOWS, Row, movie_counts, total, window_start

settings = get_settings()
ARM_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def owns(arm: str) -> bool:
    """Whether this worker holds ``arm``'s exposure partition as its active owner."""
    table = exposure_windows.table
    key = table.changelog_topic.prepare_key(arm, None)[0]
    tp = TP(table.changelog_topic.get_topic_name(), partition_of(key, table.partitions))
    return app.assignor.is_active(tp)


def rows_of(arm: str) -> dict[int, Row]:
    """Window start (epoch ms) -> row of ``arm``, every window this worker keeps."""
    return {int(round(window[0] * 1000)): row for (name, window), row in exposure_windows.table.items()
            if name == arm and row}


def owned_arms() -> set[str]:
    """Arms with exposure rows whose partition this worker owns."""
    return {name for name, _ in exposure_windows.table.keys() if owns(name)}


def select(rows: dict[int, Row], window: str, now_ms: int) -> tuple[Row, int | None, int | None]:
    """The row of ``window`` (summed for ``all``) and its bounds in epoch ms."""
    size = int(settings.fairness_window_s * 1000)
    if window == "all":
        return total(rows.values()), min(rows, default=None), (max(rows) + size if rows else None)
    start = window_start(now_ms, settings.fairness_window_s) - (size if window == "previous" else 0)
    return total([rows.get(start)]), start, start + size


def summary_of(arm: str, window: str, deployed: Deployed, now_ms: int | None = None) -> FairnessSummary:
    """The fairness figures of ``arm`` in ``window`` over the deployed model's catalog."""
    row, _, _ = select(rows_of(arm), window, now_ms or int(time.time() * 1000))
    catalog = rerank_context(deployed.bundle).catalog
    return summarise(catalog.counts(movie_counts(row)), catalog, row["responses"])


@app.page("/fairness")
class Fairness(web.View):
    """Exposure Gini over the whole catalog, coverage, starvation, tail share and tier amplification."""

    @public
    async def get(self, request: web.Request) -> web.Response:
        arm = request.query.get("arm") or ARM
        window = request.query.get("window") or "current"
        if window not in WINDOWS:
            return error(self, 400, "bad window", f"window {window!r} is not one of {', '.join(WINDOWS)}")
        if not ARM_NAME.fullmatch(arm):
            return error(self, 400, "bad arm", "arm must be 1-64 letters, digits or _.:-")
        if not owns(arm) and "local" not in request.query:
            try:
                return await app.router.route_req(exposure_windows.table.name, arm, self.web, request)
            except SameNode:
                pass
            except Exception as exc:  # no owner known yet (rebalance, recovery): say so, never a 500
                return error(self, 503, "not ready", f"the owner of arm {arm!r} is unknown: {exc}")
        deployed = holder.current
        if deployed is None:
            return error(self, 503, "not ready", "no model is loaded yet: the popularity tiers come from it")
        rows = rows_of(arm)
        if not rows and arm != ARM:
            return error(self, 400, "unknown arm", f"arm {arm!r} served nothing in the kept windows")
        now_ms = int(time.time() * 1000)
        _, start, end = select(rows, window, now_ms)
        body: dict[str, Any] = {"arm": arm, "window": window, "window_start_ms": start, "window_end_ms": end,
                                **summary_of(arm, window, deployed, now_ms).as_dict()}
        return self.json(body)
