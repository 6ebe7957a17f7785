"""``GET /openapi.json``: every endpoint, its body, its answers and every error code.

The schemas are generated from the bodies' types (msgspec Structs: :data:`BODIES`), the error
codes from :data:`flashsale.front.errors.STATUS` and the refusal table; what is written here
is the operations: summaries, parameters, and which answers each one can give."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from checkout.flow import AmountDue, Payment, Reservation
from checkout.payments import SIGNATURE_HEADER
from checkout.purchase import BuyRequest
from flashsale import __version__
from flashsale.front import schemas
from flashsale.front.errors import STATUS
from flashsale.front.headers import IDEMPOTENCY_KEY
from flashsale.front.pages import numbers
from flashsale.front.pages.agreement import Agreement
from flashsale.front.responses import JSONResponse
from flashsale.front.routes.account import MyOrders
from inventory.refusals import ANSWER_CODES

REF = "#/components/schemas/{name}"
_STR = {"type": "string"}
_BEARER: list[dict[str, list[str]]] = [{"buyer": []}]


def _ref(kind: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    """Error responses grouped by status, each listing its possible codes."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "invalid_request", "internal"):
        by_status.setdefault(STATUS[code], []).append(code)
    return {
        str(status): _json(_ref(schemas.Error), "error codes: " + ", ".join(sorted(set(names))))
        for status, names in sorted(by_status.items())
    }


def _op(
    summary: str,
    ok: dict[str, Any],
    *codes: str,
    body: type[msgspec.Struct] | None = None,
    auth: bool = False,
    params: tuple[str, ...] = (),
    ok_status: str = "200",
    headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    if body:  # every JSON body is bounded in size and must be sent as JSON
        codes = (*codes, "payload_too_large", "unsupported_media_type")
    op: dict[str, Any] = {"summary": summary, "responses": {ok_status: ok, **_errors(*codes)}}
    parameters = [{"name": p, "in": "path", "required": True, "schema": _STR} for p in params]
    parameters += [{"name": h, "in": "header", "required": True, "schema": _STR} for h in headers]
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if auth:
        op["security"] = _BEARER
    return op


def _with(
    op: dict[str, Any], responses: dict[str, Any], body: type[msgspec.Struct] | None = None
) -> dict[str, Any]:
    """``op`` with more responses (e.g. a second success status) and an optional body."""
    op["responses"] = dict(sorted({**op["responses"], **responses}.items()))
    if body is not None:
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


def _admission_paths(paths: dict[str, Any]) -> None:
    """The waiting room and proof-of-work endpoints, and the buy request's optional headers."""
    place = _json(_ref(schemas.QueuePlace), "your place; the admission token once admitted")
    codes = ("unauthorized", "not_found", "rate_limited")
    paths["/api/rounds/{round_id}/queue"] = {
        "post": _op(
            "Join the round's waiting room (early arrivals are shuffled at the start)",
            place,
            *codes,
            auth=True,
            params=("round_id",),
        ),
        "get": _op(
            "Your place in the waiting room, an estimate, and the admission token",
            place,
            *codes,
            auth=True,
            params=("round_id",),
        ),
    }
    paths["/api/rounds/{round_id}/challenge"] = {
        "get": _op(
            "A proof-of-work challenge bound to you and the round (X-PoW on the order)",
            _json(_ref(schemas.Challenge), "the challenge"),
            "unauthorized",
            auth=True,
            params=("round_id",),
        )
    }
    paths["/api/rounds/{round_id}/orders"]["post"]["parameters"] += [
        {
            "name": "X-Admission-Token",
            "in": "header",
            "required": False,
            "description": "required while the round's waiting room is on",
            "schema": _STR,
        },
        {
            "name": "X-PoW",
            "in": "header",
            "required": False,
            "description": "<challenge>.<solution>, when the round asks for proof of work",
            "schema": _STR,
        },
    ]


#: Every body the document describes; its components are generated from these types.
BODIES: tuple[type[msgspec.Struct], ...] = (
    schemas.Error,
    BuyRequest,
    Reservation,
    AmountDue,
    schemas.Order,
    schemas.Round,
    schemas.Rounds,
    Payment,
    schemas.PayRequest,
    schemas.OtpRequest,
    schemas.OtpVerify,
    schemas.OtpSent,
    schemas.Token,
    schemas.FreeNumbers,
    Agreement,
    MyOrders,
    schemas.Dashboard,
    schemas.RoundControl,
    schemas.QueuePlace,
    schemas.Challenge,
    schemas.Pong,
)


def components() -> dict[str, Any]:
    """The JSON Schemas of :data:`BODIES` (and the types they use), by name. The error object
    is shown inline in ``Error``: every client reads ``error.code`` from there."""
    _, found = msgspec.json.schema_components(BODIES, ref_template=REF)
    found["Error"]["properties"]["error"] = found.pop("ErrorDetail")
    return found


@cache
def document() -> dict[str, Any]:
    order_codes = ("unauthorized", "not_found")
    paths = {
        "/api/ping": {"get": _op("Constant answer with no I/O", _json(_ref(schemas.Pong), "pong"))},
        "/api/rounds": {
            "get": _op(
                "Live and upcoming rounds with server time and units left",
                _json(_ref(schemas.Rounds), "rounds"),
            )
        },
        "/api/rounds/{round_id}": {
            "get": _op(
                "One round",
                _json(_ref(schemas.Round), "the round"),
                "not_found",
                params=("round_id",),
            )
        },
        "/api/rounds/{round_id}/numbers": {
            "get": {
                **_op(
                    "A random sample of the round's free phone numbers (display only)",
                    _json(_ref(schemas.FreeNumbers), "free numbers"),
                    "not_found",
                    "number_choice_disabled",
                    params=("round_id",),
                ),
                "parameters": [
                    {"name": "round_id", "in": "path", "required": True, "schema": _STR},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": numbers.MAX_LIMIT,
                            "default": numbers.DEFAULT_LIMIT,
                        },
                    },
                ],
            }
        },
        "/api/rounds/{round_id}/agreement": {
            "get": _op(
                "The full text of the agreement the round's buyers accept (null if none)",
                _json(_ref(Agreement), "the agreement"),
                "not_found",
                "unavailable",
                params=("round_id",),
            )
        },
        "/api/orders": {
            "get": _op(
                "The caller's own orders, newest first (My orders)",
                _json(_ref(MyOrders), "the orders"),
                "unauthorized",
                "unavailable",
                auth=True,
            )
        },
        "/api/admin/dashboard": {
            "get": {
                **_op(
                    "Ops dashboard figures (admin credential: Authorization: Bearer <admin token>)",
                    _json(_ref(schemas.Dashboard), "the current figures"),
                    "unauthorized",
                ),
                "security": [{"admin": []}],
            }
        },
        "/api/admin/rounds/{round_id}/{action}": {
            "post": {
                **_op(
                    "Pause, resume or close a round (the ops dashboard's buttons; admin "
                    "credential; audited; repeating one changes nothing)",
                    _json(_ref(schemas.RoundControl), "done, or already so"),
                    "unauthorized",
                    "not_found",
                    "round_not_changeable",
                    "unavailable",
                ),
                "parameters": [
                    {"name": "round_id", "in": "path", "required": True, "schema": _STR},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["pause", "resume", "close"]},
                    },
                ],
                "security": [{"admin": []}],
            }
        },
        "/api/rounds/{round_id}/orders": {
            "post": _op(
                "Reserve units (atomic; Idempotency-Key makes retries safe)",
                _json(_ref(Reservation), "reserved; pay before pay_before"),
                "unauthorized",
                *ANSWER_CODES,  # a refused reservation (inventory/refusals.py)
                "unavailable",
                "rate_limited",
                "admission_required",
                "challenge_failed",
                body=BuyRequest,
                auth=True,
                params=("round_id",),
                ok_status="201",
                headers=(IDEMPOTENCY_KEY,),
            )
        },
        "/api/orders/{order_id}": {
            "get": _op(
                "The caller's own order and its state",
                _json(_ref(schemas.Order), "the order"),
                *order_codes,
                "unavailable",  # an archived round's order is read from PostgreSQL
                auth=True,
                params=("order_id",),
            )
        },
        "/api/orders/{order_id}/pay": {
            "post": _with(
                _op(
                    "Start paying (the simulated provider confirms by a signed callback)",
                    _json(_ref(Payment), "paid (already, or at once with instant)"),
                    *order_codes,
                    "order_not_payable",
                    "payload_too_large",
                    "unsupported_media_type",
                    auth=True,
                    params=("order_id",),
                ),
                {"202": _json(_ref(Payment), "pending: the provider confirms shortly")},
                body=schemas.PayRequest,
            )
        },
        "/api/orders/{order_id}/cancel": {
            "post": _op(
                "Cancel an unpaid reservation (units return to stock)",
                _json(_ref(schemas.Order), "cancelled"),
                *order_codes,
                "order_not_payable",
                auth=True,
                params=("order_id",),
            )
        },
        "/api/payments/callback": {
            "post": _op(
                "Payment provider callback, signed (Flashsale-Signature: t=<ts>,v1=<hmac>)",
                _json(_ref(Payment), "applied"),
                "invalid_signature",
                "invalid_callback",
                "stale_callback",
                "replayed_callback",
                "not_found",
                "payload_too_large",
                "unavailable",  # an archived round's order: PostgreSQL unreachable
                headers=(SIGNATURE_HEADER,),
            )
        },
        "/api/auth/otp": {
            "post": _op(
                "Send a one-time code by SMS",
                _json(_ref(schemas.OtpSent), "sent"),
                "rate_limited",
                "otp_cooldown",
                "otp_locked",
                body=schemas.OtpRequest,
            )
        },
        "/api/auth/verify": {
            "post": _op(
                "Exchange the code for a buyer token",
                _json(_ref(schemas.Token), "token"),
                "unauthorized",
                "invalid_code",
                "code_expired",
                "rate_limited",
                "otp_locked",
                body=schemas.OtpVerify,
            )
        },
    }
    _admission_paths(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flashsale",
            "version": __version__,
            "description": "Shopper API of the flashsale engine. Errors are "
            '{"error": {"code", "message", "field"?}}.',
        },
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "buyer": {"type": "http", "scheme": "bearer"},
                "admin": {"type": "http", "scheme": "bearer"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
