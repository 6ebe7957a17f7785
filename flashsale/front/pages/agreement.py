"""``GET /api/rounds/{round_id}/agreement``: the full text of the agreement a round's buyers
accept (the version in the round's offer snapshot), from the catalog's offer row.

``text`` is null when the catalog has no text for that version (the offer row is gone, holds
another version now, or never had a text): the page then says so instead of showing a wrong one.
Texts are cached per worker for a minute (the shopper may open it at the opening second).
"""

from __future__ import annotations

import time

import asyncpg
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.state import app_state

CACHE_SECONDS = 60.0
_TEXT = "SELECT agreement_text FROM offers WHERE id = $1 AND agreement_version = $2"
_cache: dict[tuple[str, str], tuple[float, str | None]] = {}


class Agreement(msgspec.Struct, frozen=True):
    round_id: str
    #: The version the round's buyers accept.
    version: str | None
    #: Its full text, or null when the catalog has none for that version.
    text: str | None


async def _text(request: Request, offer_id: str, version: str) -> str | None:
    key = (offer_id, version)
    hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    if not (offer_id.isascii() and offer_id.isdigit()) or len(offer_id) > 18:
        return None  # not a catalog offer id
    pool = await app_state(request).ops.pool()
    if pool is None:
        raise ApiError("unavailable", "the agreement is unavailable; retry shortly")
    try:
        found = await pool.fetchval(_TEXT, int(offer_id), version)
    except (asyncpg.PostgresError, OSError):
        raise ApiError("unavailable", "the agreement is unavailable; retry shortly") from None
    text = found or None
    if len(_cache) > 1000:
        _cache.clear()
    _cache[key] = (time.monotonic(), text)
    return text


async def agreement(request: Request) -> Response:
    round_id = request.path_params["round_id"]
    view = app_state(request).rounds.rounds.get(round_id)
    if view is None:
        raise ApiError("not_found", "no such round")
    offer = view.get("offer") or {}
    version = str(view.get("agreement_version") or offer.get("agreement_version") or "")
    offer_id = str(view.get("offer_id") or offer.get("offer_id") or "")
    text = await _text(request, offer_id, version) if version else None
    return JSONResponse(Agreement(round_id, version or None, text))
