"""``GET /`` (the operator page, shipped static files) and ``GET /operator/data`` (its figures)."""
from __future__ import annotations

import time
from pathlib import Path

from faust import web

from app import app
from app.faust_app import worker_id
from app.observability.recent import RECENT_DEAD_LETTERS
from app.observability.service import MONITOR
from app.operator_page.summary import read_samples, summarize
from app.settings import get_settings
from app.views import STARTED

STATIC = Path(__file__).parent / "static"
TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css"}
WORKER = worker_id(get_settings())


@app.page("/")
class OperatorPage(web.View):
    """The page itself; it polls /operator/data and draws inline SVG, nothing from the network."""

    async def get(self, request: web.Request) -> web.Response:
        return self.bytes((STATIC / "operator.html").read_bytes(), content_type="text/html")


@app.page("/operator/static/{name}")
class OperatorStatic(web.View):
    """The page's script and style, from the package (only the files shipped there)."""

    async def get(self, request: web.Request, name: str) -> web.Response:
        path = STATIC / name
        if name not in {p.name for p in STATIC.iterdir()} or path.suffix not in TYPES:
            return self.json({"error": "not found", "detail": f"no static file {name!r}"}, status=404)
        return self.bytes(path.read_bytes(), content_type=TYPES[path.suffix])


@app.page("/operator/data")
class OperatorData(web.View):
    """This worker's figures as JSON: counters are cumulative, the page turns them into rates."""

    async def get(self, request: web.Request) -> web.Response:
        return self.json({"worker": WORKER, "now": time.time(), "uptime_s": round(time.monotonic() - STARTED, 1),
                          "lag": MONITOR.as_dict(), "recent_dead_letters": RECENT_DEAD_LETTERS.latest(),
                          **summarize(read_samples())})
