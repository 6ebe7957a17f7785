"""Routes of the pages: ``/`` storefront, ``/ops`` dashboard, ``/static/*`` their assets.

``/static/refusals.js`` is generated from :mod:`inventory.refusals` (the storefront's wording of
each refusal), so the page never retypes it.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from flashsale.front.pages.numbers import free_numbers
from inventory.refusals import storefront_table

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


_REFUSALS_JS = (
    b'"use strict";\n/* Generated from inventory/refusals.py: {API error code: {headline, message}}'
    b" of each refusal a reservation can answer. */\nconst FS_REFUSALS = "
    + orjson.dumps(storefront_table(), option=orjson.OPT_INDENT_2)
    + b";\n"
)


async def refusals_script(request: Request) -> Response:
    return Response(_REFUSALS_JS, media_type="text/javascript; charset=utf-8", headers=_HEADERS)


async def storefront(request: Request) -> Response:
    return _page("index.html")


async def ops(request: Request) -> Response:
    return _page("ops.html")


routes = [
    Route("/", storefront, methods=["GET"]),
    Route("/ops", ops, methods=["GET"]),
    Route("/api/rounds/{round_id}/numbers", free_numbers, methods=["GET"]),
    Route("/static/refusals.js", refusals_script, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
