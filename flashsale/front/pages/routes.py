"""Routes of the pages: ``/`` storefront, ``/ops`` dashboard, ``/static/*`` their assets, and the
storefront's own API reads (free numbers, the agreement's text, the buyer's orders).

The storefront is rendered in the shopper's language (:func:`flashsale.front.pages.i18n.negotiate`);
``/static/i18n.js`` (its texts) and ``/static/refusals.js`` (the wording of every API error code,
from :mod:`inventory.refusals`) are generated, so the page never retypes them.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from flashsale.front.pages import i18n
from flashsale.front.pages.agreement import agreement
from flashsale.front.pages.numbers import free_numbers
from flashsale.front.routes import account
from inventory.refusals import LANGUAGES

STATIC = Path(__file__).parent / "static"
# Everything is served from here: no inline script, no third-party origin.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; worker-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_JS = "text/javascript; charset=utf-8"
_STORE = {lang: i18n.render((STATIC / "index.html").read_text("utf-8"), lang) for lang in LANGUAGES}
_TEXTS_JS = i18n.texts_script()
_REFUSALS_JS = i18n.refusals_script()


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=_HEADERS)


async def texts_script(request: Request) -> Response:
    return Response(_TEXTS_JS, media_type=_JS, headers=_HEADERS)


async def refusals_script(request: Request) -> Response:
    return Response(_REFUSALS_JS, media_type=_JS, headers=_HEADERS)


async def storefront(request: Request) -> Response:
    lang = i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.COOKIE))
    headers = {**_HEADERS, "Vary": "Accept-Language, Cookie", "Content-Language": lang}
    return Response(_STORE[lang], media_type="text/html; charset=utf-8", headers=headers)


async def ops(request: Request) -> Response:
    return _page("ops.html")


routes: list[BaseRoute] = [
    Route("/", storefront, methods=["GET"]),
    Route("/ops", ops, methods=["GET"]),
    Route("/api/rounds/{round_id}/numbers", free_numbers, methods=["GET"]),
    Route("/api/rounds/{round_id}/agreement", agreement, methods=["GET"]),
    *account.routes,
    Route("/static/i18n.js", texts_script, methods=["GET"]),
    Route("/static/refusals.js", refusals_script, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
