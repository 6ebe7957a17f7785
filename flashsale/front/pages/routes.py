"""Routes of the pages: ``/`` storefront, ``/ops`` dashboard, ``/static/*`` their assets."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from flashsale.front.pages.numbers import free_numbers

STATIC = Path(__file__).parent / "static"
# Everything is served from here: no inline script, no third-party origin.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=_HEADERS)


async def storefront(request: Request) -> Response:
    return _page("index.html")


async def ops(request: Request) -> Response:
    return _page("ops.html")


routes = [
    Route("/", storefront, methods=["GET"]),
    Route("/ops", ops, methods=["GET"]),
    Route("/api/rounds/{round_id}/numbers", free_numbers, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
