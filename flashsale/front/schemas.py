"""The API's request and response bodies that are the front's own, as msgspec Structs.

The buy flow's bodies live with the flow (:mod:`checkout.purchase`, :mod:`checkout.flow`).
Request Structs validate the body they decode (:func:`flashsale.front.body.read`); a
``MESSAGES`` table gives each field's refusal. Every Struct here is also an OpenAPI schema
(:mod:`flashsale.front.openapi` generates the document from them), so the bodies the handlers
build from these types cannot drift from what the document says; the bodies still built as
dicts (a round, an order, the dashboard) are checked against theirs by the fuzz tests.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from checkout.flow import AmountDue
from checkout.purchase import MOBILE_PATTERN
from flashsale.front.errors import STATUS
from flashsale.front.otp import CODE_RULE, PHONE_RULE

EPOCH_SECONDS = Meta(description="seconds since the epoch")
NullableInt = int | None | UnsetType


class Pong(Struct):
    ok: bool


class ErrorDetail(Struct):
    code: Annotated[str, Meta(extra_json_schema={"enum": sorted(STATUS)})]
    message: str
    field: str | UnsetType = UNSET


class Error(Struct):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail


class PayRequest(Struct):
    # Anything but ``true`` is "not instant", as it always was.
    instant: Annotated[
        Any, Meta(extra_json_schema={"type": "boolean", "description": "confirm at once"})
    ] = False


class OtpRequest(Struct):
    MESSAGES: ClassVar[dict[str, str]] = {"phone": PHONE_RULE}

    phone: Annotated[str, Meta(extra_json_schema={"pattern": MOBILE_PATTERN})]


class OtpVerify(Struct):
    MESSAGES: ClassVar[dict[str, str]] = {"phone": PHONE_RULE, "code": CODE_RULE}

    phone: str
    code: Annotated[str, Meta(extra_json_schema={"pattern": "^[0-9]{6}$"})]


class OtpSent(Struct):
    sent: bool
    expires_in: Annotated[int, Meta(description="seconds the code stays valid")]
    resend_after: Annotated[int, Meta(description="seconds before another code can be sent")]


class Token(Struct):
    token: str
    buyer_id: str
    expires_at: Annotated[int, EPOCH_SECONDS]


class Round(Struct):
    round_id: str
    status: str
    left: int | UnsetType = UNSET


class Rounds(Struct):
    server_time: int
    rounds: list[Round]


class Order(Struct):
    order_id: str
    status: str
    round_id: str | UnsetType = UNSET
    amount_due: AmountDue | UnsetType | None = UNSET


class FreeNumber(Struct):
    number: str
    surcharge_fen: int


class FreeNumbers(Struct):
    round_id: str
    numbers: list[FreeNumber]


class Dashboard(Struct):
    server_time: int
    rounds: Annotated[
        list[dict[str, Any]],
        Meta(
            description="per armed round: stocked, left, held, paid, released, "
            "refund_required, orders, outbox {length, pending}, persisted {status: count}"
        ),
    ]
    kafka_lag: Annotated[int | None, Meta(description="writer group lag")]
    fulfillment: Annotated[
        dict[str, Any] | UnsetType | None,
        Meta(description="shipments by state, backlog, dead_letters (when present)"),
    ] = UNSET


class RoundControl(Struct):
    round_id: str
    action: Literal["pause", "resume", "close"]
    changed: Annotated[bool, Meta(description="false: the round was already so")]
    status: str


class QueuePlace(Struct):
    round_id: str
    state: Annotated[
        Literal["off", "before", "queued", "admitted"],
        Meta(
            description="off: no waiting room, buy directly; before: joined, positions are "
            "drawn at random at the start; queued; admitted: buy with token"
        ),
    ]
    token: Annotated[
        str | None, Meta(description="admission token: send it as X-Admission-Token with the order")
    ]
    position: Annotated[NullableInt, Meta(description="1 = next to be admitted")] = UNSET
    estimated_wait_ms: NullableInt = UNSET
    starts_in_ms: NullableInt = UNSET
    queue_length: NullableInt = UNSET
    rate_per_second: float | UnsetType | None = UNSET
    token_expires_at: Annotated[int | UnsetType, EPOCH_SECONDS] = UNSET


class Challenge(Struct):
    round_id: str
    challenge: str
    difficulty: Annotated[int, Meta(ge=0, le=32)]
    required: bool
    expires_at: Annotated[int, EPOCH_SECONDS]
    how: str
