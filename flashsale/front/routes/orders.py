"""Shopper order endpoints over :class:`checkout.flow.Checkout`: reserve (the hot path), view,
pay, cancel, and the payment provider's callback. Each handler reads the request, calls the
flow and sends its answer; the flow's errors become HTTP in :mod:`flashsale.front.errors`."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

import fulfillment
from checkout import payments
from checkout.flow import PENDING, public_order
from checkout.purchase import BuyRequest
from flashsale.front import body
from flashsale.front.auth import buyer_id
from flashsale.front.errors import REPLAYED, error_body
from flashsale.front.headers import idempotency_key
from flashsale.front.responses import JSONResponse
from flashsale.front.routes.admission import admit_buyer
from flashsale.front.schemas import PayRequest
from flashsale.front.state import app_state
from inventory.refusals import REFUSALS

__all__ = ["cancel", "create_order", "get_order", "pay", "payment_callback", "public_order"]

CALLBACK_MAX_BODY = 8 * 1024  # a provider event is a few hundred bytes
PAY_MAX_BODY = 1024
_SOLD_OUT = orjson.dumps(error_body("sold_out", REFUSALS["sold_out"].message))
# What the shopper's order becomes once the parcel moves (the Redis order stays "paid").
_SHIPPED = {
    "booked": "shipped",
    "picked_up": "shipped",
    "in_transit": "shipped",
    "delivered": "delivered",
}


async def create_order(request: Request) -> Response:
    buyer = buyer_id(request)
    key = idempotency_key(request.headers)
    await admit_buyer(request, buyer, key)  # rate limits; the round's waiting room / PoW
    checkout = app_state(request).checkout
    round_id = request.path_params["round_id"]
    if checkout.known_sold_out(round_id) and await checkout.sold_out(round_id, buyer, key):
        # Sold out is the definitive answer: no body parsing, no encryption, no script.
        return Response(_SOLD_OUT, status_code=409, media_type="application/json")
    buy = (await body.read(request, BuyRequest)).checked()
    reserved = await checkout.reserve(round_id, buyer, key, buy)
    return JSONResponse(
        reserved.reservation, status_code=201, headers=REPLAYED if reserved.replay else None
    )


async def get_order(request: Request) -> Response:
    state = app_state(request)
    order_id = request.path_params["order_id"]
    order = await state.checkout.order(buyer_id(request), order_id, include_archived=True)
    view = public_order(order)
    if order["status"] == "paid":
        view["shipment"] = None
        pool = await state.ops.pool()  # lazily opened; None if PostgreSQL is down
        if pool is not None:
            shipment = await fulfillment.tracking(pool, order_id)
            view["shipment"] = shipment
            if shipment is not None and shipment["state"] in _SHIPPED:
                view["status"] = _SHIPPED[shipment["state"]]
    return JSONResponse(view)


async def pay(request: Request) -> Response:
    """Start paying. ``{"instant": true}`` (demos, load tests) has the simulated provider
    confirm at once (200); otherwise it confirms by a signed callback shortly after (202)."""
    checkout = app_state(request).checkout
    order = await checkout.order(buyer_id(request), request.path_params["order_id"])
    asked = await body.read(request, PayRequest, PAY_MAX_BODY, optional=True)
    answer = await checkout.pay_for(order, instant=asked.instant is True)
    return JSONResponse(answer, status_code=202 if answer.status == PENDING else 200)


async def cancel(request: Request) -> Response:
    checkout = app_state(request).checkout
    order_id = request.path_params["order_id"]
    return JSONResponse(await checkout.cancel(buyer_id(request), order_id))


async def payment_callback(request: Request) -> Response:
    raw = await body.bounded_body(request, CALLBACK_MAX_BODY)
    signature = request.headers.get(payments.SIGNATURE_HEADER, "")
    return JSONResponse(await app_state(request).checkout.apply_callback(raw, signature))
