"""An aiohttp middleware: requests no route matches get the JSON ``{error, detail}`` every route uses."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """aiohttp's own 404 and 405 (plain text) as JSON, with what was asked."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.json_response({"error": "not found", "detail": f"no route {request.path}"}, status=404)
    except web.HTTPMethodNotAllowed as exc:
        return web.json_response({"error": "method not allowed",
                                  "detail": f"{request.method} {request.path}; allowed: "
                                            f"{', '.join(sorted(exc.allowed_methods))}"},
                                 status=405, headers={"Allow": ",".join(sorted(exc.allowed_methods))})
