"""Errors become HTTP in one place (starlette exception handlers).

Handlers raise :class:`ApiError` or a domain error carrying a stable string ``code`` (inventory,
the buy flow, tokens, ID numbers, payments); :func:`error_response` turns either into
``{"error": {"code": ..., "message": ..., "field": ...}}`` with the status of :data:`STATUS`.
Anything else is a bug: it is logged (without the request body) and answered 500 ``internal``.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from checkout.flow import CheckoutError, ReservationRefused
from flashsale.front.responses import JSONResponse
from inventory.refusals import REFUSALS

log = logging.getLogger("flashsale.api")

#: Every error code the API answers with, and its HTTP status.
STATUS: dict[str, int] = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    # a refused reservation: the answers of inventory/refusals.py, with their status
    **{r.answer: r.status for r in REFUSALS.values()},
    "order_not_payable": 409,
    "round_not_changeable": 409,  # an ops dashboard action the round's state refuses
    "invalid_signature": 400,
    "invalid_callback": 400,
    "stale_callback": 400,
    "replayed_callback": 409,
    "invalid_code": 401,
    "code_expired": 401,
    "otp_locked": 429,
    "otp_cooldown": 429,
    "rate_limited": 429,
    "admission_required": 403,
    "challenge_failed": 403,
    "unavailable": 503,
    "internal": 500,
}


class ApiError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status or STATUS.get(code, 400)
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(
    code: str,
    message: str,
    *,
    field: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return JSONResponse(
        error_body(code, message, field), status_code=status or STATUS[code], headers=headers
    )


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.code, exc.message, field=exc.field, status=exc.status, headers=exc.headers
    )


async def coded_error(request: Request, exc: Exception) -> Response:
    """A domain error with a stable ``code`` attribute (and maybe ``field``)."""
    code = getattr(exc, "code", "internal")
    if code not in STATUS:
        return await internal_error(request, exc)
    return error_response(code, str(exc) or code, field=getattr(exc, "field", None))


async def checkout_error(request: Request, exc: Exception) -> Response:
    """The buy flow's errors (:mod:`checkout.flow`); a refusal replayed from an earlier request
    with the same Idempotency-Key says so (``Idempotent-Replayed: true``)."""
    assert isinstance(exc, CheckoutError)
    replayed = isinstance(exc, ReservationRefused) and exc.replay
    return error_response(exc.code, exc.message, headers=REPLAYED if replayed else None)


REPLAYED = {"Idempotent-Replayed": "true"}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(code, str(exc.detail), status=exc.status_code, headers=headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc
    )
    return error_response("internal", "internal error")


async def inventory_error(request: Request, exc: Exception) -> Response:
    """Redis unreachable or a script failure: the shopper may retry; nothing was lost."""
    code = getattr(exc, "code", "")
    if code == "invalid_request":
        return error_response("invalid_request", str(exc))
    if code == "round_not_armed":
        return error_response("not_found", "no such round")
    log.error("inventory unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        "unavailable",
        "the sale is busy; retry with the same Idempotency-Key",
        headers={"Retry-After": "1"},
    )
