"""Shopper order endpoints: reserve (the hot path), view, pay, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response

import fulfillment
from checkout import archived, payments, pii
from flashsale.front._body import bounded_body, json_body
from flashsale.front.auth import buyer_id
from flashsale.front.buy_request import idempotency_key, parse_buy
from flashsale.front.errors import ApiError, error_body
from flashsale.front.responses import JSONResponse
from flashsale.front.routes.admission import admit_buyer
from flashsale.front.state import AppState
from inventory import Inventory, ReserveRequest, ReserveResult
from inventory.refusals import REFUSALS

CALLBACK_MAX_BODY = 8 * 1024  # a provider event is a few hundred bytes
_SOLD_OUT = orjson.dumps(error_body("sold_out", REFUSALS["sold_out"].message))


def order_round(order_id: str) -> str:
    round_id, sep, seq = order_id.rpartition("-")
    if not sep or not round_id or not seq.isdigit():
        raise ApiError("not_found", "no such order")
    return round_id


def _inventory(request: Request) -> Inventory:
    return request.app.state.fs.inventory  # type: ignore[no-any-return]


async def create_order(request: Request) -> Response:
    buyer = buyer_id(request)
    key = idempotency_key(request.headers)
    await admit_buyer(request, buyer, key)  # rate limits; the round's waiting room / PoW
    state = request.app.state.fs
    round_id = request.path_params["round_id"]
    if await state.inventory.answer_sold_out(round_id, buyer, key):
        # Sold out is the definitive answer: no body parsing, no encryption, no script.
        return Response(_SOLD_OUT, status_code=409, media_type="application/json")
    buy = parse_buy(await json_body(request))
    protected = pii.protect(buy.id_number, state.pii_keys)
    result = await state.inventory.reserve(
        ReserveRequest(
            round_id=round_id,
            buyer_id=buyer,
            id_hash=protected.hash,
            quantity=buy.quantity,
            idempotency_key=key,
            channel=buy.channel,
            agreement_version=buy.agreement_version,
            number=buy.number,
            pii={
                "real_name": buy.real_name,
                "address": buy.address,
                "id_masked": protected.masked,
                "id_encrypted": protected.encrypted,
            },
        )
    )
    headers = {"Idempotent-Replayed": "true"} if result.replay else None
    if not result.ok:
        refusal = REFUSALS.get(result.code or "")
        if refusal is None:
            raise ApiError("invalid_request", "refused", headers=headers)
        raise ApiError(refusal.answer, refusal.message, headers=headers)
    return JSONResponse(
        _reserved(result, buy.quantity, buy.number), status_code=201, headers=headers
    )


def _reserved(result: ReserveResult, quantity: int, number: str | None) -> dict[str, Any]:
    return {
        "order_id": result.order_id,
        "status": "reserved",
        "quantity": quantity,
        "number": number,
        "pay_before": result.pay_before_ms,
        "offer": result.offer,
        # price_fen (unit price x quantity) + surcharge_fen (chosen number) = total_fen: the
        # amount pay charges and the payment callback must carry
        "amount_due": result.amount.as_dict() if result.amount else None,
    }


async def _own_order(
    request: Request, *, include_archived: bool = False
) -> tuple[str, str, dict[str, Any]]:
    buyer = buyer_id(request)
    order_id = request.path_params["order_id"]
    round_id = order_round(order_id)
    order = await _inventory(request).order(round_id, order_id)
    if (
        order is None and include_archived
    ):  # its round may have left Redis (checkout.pipeline.archive)
        order = await _archived_order(request, order_id)
    if order is None or order.get("buyer_id") != buyer:
        # Another buyer's order is indistinguishable from a missing one.
        raise ApiError("not_found", "no such order")
    return round_id, order_id, order


async def _archived_order(request: Request, order_id: str) -> dict[str, Any] | None:
    pool = await request.app.state.ops.pool()  # lazily opened; None if PostgreSQL is down
    if pool is None:
        raise ApiError("unavailable", "order history is unavailable; try again shortly")
    try:
        return await archived.archived_order(pool, order_id)
    except (asyncpg.PostgresError, OSError) as exc:
        raise ApiError("unavailable", "order history is unavailable; try again shortly") from exc


History = Callable[[], Awaitable[asyncpg.Pool | None]]


async def _archived_payment(
    history: History | None, event: payments.PaymentEvent
) -> dict[str, Any] | None:
    """The answer for a payment of an archived order (recorded for refund unless it is the
    applied one again), or None if the order is not archived either."""
    if history is None:
        return None
    pool = await history()
    if pool is None:  # cannot tell: the provider must retry rather than be told "no order"
        raise ApiError("unavailable", "payments are unavailable; try again shortly")
    try:
        return await archived.payment_after_archive(
            pool, event.order_id, event.payment_id, event.amount
        )
    except (asyncpg.PostgresError, OSError) as exc:
        raise ApiError("unavailable", "payments are unavailable; try again shortly") from exc


async def get_order(request: Request) -> Response:
    _, order_id, order = await _own_order(request, include_archived=True)
    view = public_order(order)
    if order["status"] == "paid":
        view["shipment"] = None
        pool = await request.app.state.ops.pool()  # lazily opened; None if PostgreSQL is down
        if pool is not None:
            shipment = await fulfillment.tracking(pool, order_id)
            view["shipment"] = shipment
            if shipment is not None and shipment["state"] in _SHIPPED:
                view["status"] = _SHIPPED[shipment["state"]]
    return JSONResponse(view)


# What the shopper's order becomes once the parcel moves (the Redis order stays "paid").
_SHIPPED = {
    "booked": "shipped",
    "picked_up": "shipped",
    "in_transit": "shipped",
    "delivered": "delivered",
}


def public_order(order: dict[str, Any]) -> dict[str, Any]:
    """What a shopper sees of their order: no hashes, no ciphertexts."""
    hidden = {"buyer_id", "id_hash", "pii", "fingerprint", "idempotency_key"}
    return {k: v for k, v in order.items() if k not in hidden}


def amount_due(order: dict[str, Any]) -> int:
    """Fen to pay: the total the reserve script fixed for the order (the snapshot's unit price
    times the quantity plus the chosen number's surcharge), exactly what the shopper was shown."""
    total = (order.get("amount_due") or {}).get("total_fen")
    if type(total) is not int or total <= 0:
        raise ApiError("order_not_payable", "this order has no price to pay")
    return total


async def pay(request: Request) -> Response:
    """Start paying. ``{"instant": true}`` (demos, load tests) has the simulated provider
    confirm at once; otherwise it confirms by a signed callback shortly after."""
    _, order_id, order = await _own_order(request)
    data = await json_body(request, max_bytes=1024, optional=True)
    if order["status"] not in ("reserved", "expired", "cancelled"):
        if order["status"] == "paid":
            return JSONResponse(
                {"order_id": order_id, "status": "paid", "payment_id": order["payment_id"]}
            )
        raise ApiError("order_not_payable", f"order is {order['status']}")
    state = request.app.state.fs
    payment, callback = state.payments.pay_now(order_id, amount_due(order))
    if data.get("instant") is True:
        return JSONResponse(await apply_callback(state, callback.body, callback.signature))
    state.deliver_later(callback, apply_callback)
    return JSONResponse(
        {"order_id": order_id, "status": "pending", "payment_id": payment.payment_id},
        status_code=202,
    )


async def cancel(request: Request) -> Response:
    round_id, order_id, order = await _own_order(request)
    if order["status"] != "reserved":
        raise ApiError("order_not_payable", f"order is {order['status']}, not reserved")
    await _inventory(request).release(round_id, order_id, "cancelled")
    refreshed = await _inventory(request).order(round_id, order_id)
    return JSONResponse(public_order(refreshed or order))


async def payment_callback(request: Request) -> Response:
    body = await bounded_body(request, CALLBACK_MAX_BODY)
    signature = request.headers.get(payments.SIGNATURE_HEADER, "")
    history = request.app.state.ops.pool  # PostgreSQL, for orders of archived rounds
    return JSONResponse(await apply_callback(request.app.state.fs, body, signature, history))


async def apply_callback(
    state: AppState, body: bytes, signature: str, history: History | None = None
) -> dict[str, Any]:
    """Verify a provider callback (signature, freshness, once only) and apply it to the order
    (with ``history``, also to an order whose round was archived: see :mod:`checkout.archived`)."""
    event = await payments.verify_callback(
        state.settings.payment_secret, body, signature, state.redis
    )
    try:
        round_id = order_round(event.order_id)
        if not event.succeeded:
            order = await state.inventory.order(round_id, event.order_id)
            status = order["status"] if order else "unknown"
            return {
                "order_id": event.order_id,
                "status": status,
                "payment_id": event.payment_id,
                "payment": "failed",
            }
        result = await state.inventory.confirm(
            round_id, event.order_id, event.payment_id, event.amount
        )
    except BaseException:
        await payments.forget_callback(state.redis, event)  # let the provider's retry in
        raise
    if result.code == "unknown_order":
        try:
            archived_answer = await _archived_payment(history, event)
        except ApiError:
            await payments.forget_callback(state.redis, event)  # PostgreSQL down: retry later
            raise
        if archived_answer is not None:
            return archived_answer
        raise ApiError("not_found", "no such order")
    answer: dict[str, Any] = {
        "order_id": event.order_id,
        "status": result.status,
        "payment_id": event.payment_id,
        "late": result.late,
    }
    if result.refund is not None:  # this payment is not kept: it is recorded for refund
        answer["payment"] = "refund_required"
        answer["refund_reason"] = result.refund
    return answer
