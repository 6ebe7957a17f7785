"""``GET /openapi.json``: every endpoint, its body, its answers and every error code."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from checkout.payments import SIGNATURE_HEADER
from flashsale import __version__
from flashsale.core import text
from flashsale.core.text import TextRule
from flashsale.front.buy_request import MAX_QUANTITY
from flashsale.front.errors import STATUS
from flashsale.front.responses import JSONResponse

_STR = {"type": "string"}
_INT = {"type": "integer"}
_BEARER: list[dict[str, list[str]]] = [{"buyer": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(rule: TextRule) -> dict[str, Any]:
    """A free-text field: the limits of :mod:`flashsale.core.text` (code points, as maxLength
    counts)."""
    return {
        "type": "string",
        "minLength": rule.min_chars,
        "maxLength": rule.max_chars,
        "description": f"NFC-normalised and trimmed before the limits; at most {rule.max_bytes} "
        "bytes of UTF-8; no control characters"
        + (" (tab and line breaks allowed)" if rule.multiline else " or line breaks")
        + ", lone surrogates, unassigned code points or noncharacters",
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    """Error responses grouped by status, each listing its possible codes."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "invalid_request", "internal"):
        by_status.setdefault(STATUS[code], []).append(code)
    return {
        str(status): _json(_ref("Error"), "error codes: " + ", ".join(sorted(set(names))))
        for status, names in sorted(by_status.items())
    }


def _op(
    summary: str,
    ok: dict[str, Any],
    *codes: str,
    body: str | None = None,
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


def _with(op: dict[str, Any], responses: dict[str, Any], body: str | None = None) -> dict[str, Any]:
    """``op`` with more responses (e.g. a second success status) and an optional body."""
    op["responses"] = dict(sorted({**op["responses"], **responses}.items()))
    if body is not None:
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


def _obj(required: tuple[str, ...], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


def _admission_schemas() -> dict[str, Any]:
    nullable_int = {"type": ["integer", "null"]}
    return {
        "QueuePlace": _obj(
            ("round_id", "state", "token"),
            round_id=_STR,
            state={
                "type": "string",
                "enum": ["off", "before", "queued", "admitted"],
                "description": "off: no waiting room, buy directly; before: joined, positions "
                "are drawn at random at the start; queued; admitted: buy with token",
            },
            position={**nullable_int, "description": "1 = next to be admitted"},
            estimated_wait_ms=nullable_int,
            starts_in_ms=nullable_int,
            queue_length=nullable_int,
            rate_per_second={"type": ["number", "null"]},
            token={
                "type": ["string", "null"],
                "description": "admission token: send it as X-Admission-Token with the order",
            },
            token_expires_at={"type": "integer", "description": "seconds since the epoch"},
        ),
        "Challenge": {
            "type": "object",
            "required": ["round_id", "challenge", "difficulty", "required", "expires_at"],
            "properties": {
                "round_id": _STR,
                "challenge": _STR,
                "difficulty": {"type": "integer", "minimum": 0, "maximum": 32},
                "required": {"type": "boolean"},
                "expires_at": {"type": "integer", "description": "seconds since the epoch"},
                "how": _STR,
            },
        },
    }


def _admission_paths(paths: dict[str, Any]) -> None:
    """The waiting room and proof-of-work endpoints, and the buy request's optional headers."""
    place = _json(_ref("QueuePlace"), "your place; the admission token once admitted")
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
            _json(_ref("Challenge"), "the challenge"),
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


@cache
def document() -> dict[str, Any]:
    order_codes = ("unauthorized", "not_found")
    schemas = {
        "Error": _obj(
            ("error",),
            error=_obj(
                ("code", "message"),
                code={"type": "string", "enum": sorted(STATUS)},
                message=_STR,
                field=_STR,
            ),
        ),
        "BuyRequest": {
            **_obj(
                ("real_name", "id_number", "address", "agreement_version"),
                quantity={"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY, "default": 1},
                real_name=_text(text.REAL_NAME),
                id_number={
                    "type": "string",
                    "pattern": "^[0-9]{17}[0-9Xx]$",
                    "description": "18-character PRC resident ID (MOD 11-2 check)",
                },
                address=_text(text.ADDRESS),
                number={
                    "type": ["string", "null"],
                    "pattern": "^1[3-9][0-9]{9}$",
                    "description": "chosen phone number, when the round offers a choice "
                    "(null: none)",
                },
                agreement_version=_text(text.AGREEMENT_VERSION),
                channel={"type": "string", "enum": ["web", "mobile", "sms"], "default": "web"},
            ),
            "additionalProperties": False,
        },
        "Reservation": _obj(
            ("order_id", "status", "pay_before", "offer"),
            order_id=_STR,
            status={"type": "string", "enum": ["reserved"]},
            quantity=_INT,
            number={"type": ["string", "null"]},
            pay_before={"type": "integer", "description": "ms since the epoch"},
            offer={"type": "object", "description": "the offer snapshot kept with the order"},
            amount_due=_ref("AmountDue"),
        ),
        "AmountDue": _obj(
            ("price_fen", "surcharge_fen", "total_fen"),
            price_fen={"type": "integer", "description": "unit price x quantity (fen)"},
            surcharge_fen={"type": "integer", "description": "chosen number's surcharge (fen)"},
            total_fen={
                "type": "integer",
                "description": "price_fen + surcharge_fen: what pay charges; a payment of any "
                "other amount is not applied and is recorded for refund",
            },
        ),
        "Order": {
            "type": "object",
            "required": ["order_id", "status"],
            "properties": {
                "order_id": _STR,
                "status": _STR,
                "round_id": _STR,
                "amount_due": _ref("AmountDue"),
            },
        },
        "Round": {
            "type": "object",
            "required": ["round_id", "status"],
            "properties": {"round_id": _STR, "status": _STR, "left": _INT},
        },
        "Rounds": _obj(
            ("server_time", "rounds"),
            server_time=_INT,
            rounds={"type": "array", "items": _ref("Round")},
        ),
        "Payment": _obj(("order_id", "status"), order_id=_STR, status=_STR, payment_id=_STR),
        "PayRequest": _obj((), instant={"type": "boolean", "description": "confirm at once"}),
        "OtpRequest": _obj(("phone",), phone={"type": "string", "pattern": "^1[3-9][0-9]{9}$"}),
        "OtpVerify": _obj(
            ("phone", "code"), phone=_STR, code={"type": "string", "pattern": "^[0-9]{6}$"}
        ),
        "Token": _obj(
            ("token", "buyer_id", "expires_at"), token=_STR, buyer_id=_STR, expires_at=_INT
        ),
        "FreeNumbers": _obj(
            ("round_id", "numbers"),
            round_id=_STR,
            numbers={
                "type": "array",
                "items": _obj(("number", "surcharge_fen"), number=_STR, surcharge_fen=_INT),
            },
        ),
        "Dashboard": _obj(
            ("server_time", "rounds", "kafka_lag"),
            server_time=_INT,
            rounds={
                "type": "array",
                "description": "per armed round: stocked, left, held, paid, released, "
                "refund_required, orders, outbox {length, pending}, persisted {status: count}",
                "items": {"type": "object"},
            },
            kafka_lag={"type": ["integer", "null"], "description": "writer group lag"},
            fulfillment={
                "type": ["object", "null"],
                "description": "shipments by state, backlog, dead_letters (when present)",
            },
        ),
    }
    paths = {
        "/api/ping": {
            "get": _op(
                "Constant answer with no I/O", _json(_obj(("ok",), ok={"type": "boolean"}), "pong")
            )
        },
        "/api/rounds": {
            "get": _op(
                "Live and upcoming rounds with server time and units left",
                _json(_ref("Rounds"), "rounds"),
            )
        },
        "/api/rounds/{round_id}": {
            "get": _op(
                "One round", _json(_ref("Round"), "the round"), "not_found", params=("round_id",)
            )
        },
        "/api/rounds/{round_id}/numbers": {
            "get": {
                **_op(
                    "A random sample of the round's free phone numbers (display only)",
                    _json(_ref("FreeNumbers"), "free numbers"),
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
                        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
                    },
                ],
            }
        },
        "/api/admin/dashboard": {
            "get": {
                **_op(
                    "Ops dashboard figures (admin credential: Authorization: Bearer <admin token>)",
                    _json(_ref("Dashboard"), "the current figures"),
                    "unauthorized",
                ),
                "security": [{"admin": []}],
            }
        },
        "/api/rounds/{round_id}/orders": {
            "post": _op(
                "Reserve units (atomic; Idempotency-Key makes retries safe)",
                _json(_ref("Reservation"), "reserved; pay before pay_before"),
                "unauthorized",
                "not_found",
                "payload_too_large",
                "unsupported_media_type",
                "not_started",
                "ended",
                "paused",
                "sold_out",
                "limit_reached",
                "number_taken",
                "number_choice_disabled",
                "channel_not_allowed",
                "agreement_outdated",
                "idempotency_mismatch",
                "unavailable",
                "rate_limited",
                "admission_required",
                "challenge_failed",
                body="BuyRequest",
                auth=True,
                params=("round_id",),
                ok_status="201",
                headers=("Idempotency-Key",),
            )
        },
        "/api/orders/{order_id}": {
            "get": _op(
                "The caller's own order and its state",
                _json(_ref("Order"), "the order"),
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
                    _json(_ref("Payment"), "paid (already, or at once with instant)"),
                    *order_codes,
                    "order_not_payable",
                    "payload_too_large",
                    "unsupported_media_type",
                    auth=True,
                    params=("order_id",),
                ),
                {"202": _json(_ref("Payment"), "pending: the provider confirms shortly")},
                body="PayRequest",
            )
        },
        "/api/orders/{order_id}/cancel": {
            "post": _op(
                "Cancel an unpaid reservation (units return to stock)",
                _json(_ref("Order"), "cancelled"),
                *order_codes,
                "order_not_payable",
                auth=True,
                params=("order_id",),
            )
        },
        "/api/payments/callback": {
            "post": _op(
                "Payment provider callback, signed (Flashsale-Signature: t=<ts>,v1=<hmac>)",
                _json(_ref("Payment"), "applied"),
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
                _json(_obj(("sent",), sent={"type": "boolean"}), "sent"),
                "rate_limited",
                "otp_cooldown",
                "otp_locked",
                body="OtpRequest",
            )
        },
        "/api/auth/verify": {
            "post": _op(
                "Exchange the code for a buyer token",
                _json(_ref("Token"), "token"),
                "unauthorized",
                "invalid_code",
                "code_expired",
                "rate_limited",
                "otp_locked",
                body="OtpVerify",
            )
        },
    }
    schemas |= _admission_schemas()
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
            "schemas": schemas,
            "securitySchemes": {
                "buyer": {"type": "http", "scheme": "bearer"},
                "admin": {"type": "http", "scheme": "bearer"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
