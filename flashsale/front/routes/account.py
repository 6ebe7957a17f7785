"""``GET /api/orders``: the logged-in buyer's own orders, newest first ("My orders").

The list comes from PostgreSQL (the orders the pipeline wrote for this buyer); each order is then
read as ``GET /api/orders/{id}`` reads it, so its status is the live one (Redis, or the archive)
rather than what the writer last stored. An order reserved a moment ago may not be listed yet:
the page also asks for the orders it just made by id.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkout.flow import CheckoutError, NoSuchOrder
from flashsale.front.auth import buyer_id
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.state import app_state
from inventory import InventoryError

LIMIT = 20
_MINE = (
    "SELECT id, status FROM orders WHERE buyer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
)
# Statuses only PostgreSQL knows (fulfillment's); Redis keeps such an order "paid".
_LATER = frozenset({"shipped", "delivered"})


def _unavailable() -> ApiError:
    return ApiError(
        "unavailable", "order history is unavailable; retry shortly", headers={"Retry-After": "2"}
    )


class OrderSummary(msgspec.Struct, frozen=True):
    """One of the buyer's orders, as "My orders" lists it."""

    order_id: str
    status: str
    round_id: str | None = None
    quantity: int | None = None
    number: str | None = None
    offer_name: str | None = None
    amount_due: dict[str, int] | None = None
    reserved_at_ms: int | None = None
    pay_before_ms: int | None = None
    #: True when only PostgreSQL's copy could be read (its status may be behind).
    stale: bool = False


class MyOrders(msgspec.Struct, frozen=True):
    orders: list[OrderSummary]


def summary(order: dict[str, Any], stored_status: str | None = None) -> OrderSummary:
    """What the list shows of one order."""
    offer = order.get("offer") or {}
    status = stored_status if stored_status in _LATER else order.get("status")
    return OrderSummary(
        order_id=str(order.get("order_id")),
        status=str(status),
        round_id=order.get("round_id"),
        quantity=order.get("quantity"),
        number=order.get("number"),
        offer_name=offer.get("offer_name"),
        amount_due=order.get("amount_due"),
        reserved_at_ms=order.get("reserved_at_ms"),
        pay_before_ms=order.get("pay_before_ms"),
    )


async def my_orders(request: Request) -> Response:
    state = app_state(request)
    buyer = buyer_id(request)
    pool = await state.ops.pool()
    if pool is None:
        raise _unavailable()
    try:
        rows = await pool.fetch(_MINE, buyer, LIMIT)
    except (asyncpg.PostgresError, OSError):
        raise _unavailable() from None

    async def one(row: asyncpg.Record) -> OrderSummary | None:
        try:
            order = await state.checkout.order(buyer, row["id"], include_archived=True)
        except NoSuchOrder:
            return None  # written for this buyer, but neither in Redis nor archived (purged)
        except (CheckoutError, InventoryError):
            return OrderSummary(row["id"], row["status"], stale=True)
        return summary(order, row["status"])

    found = await asyncio.gather(*(one(r) for r in rows))
    return JSONResponse(
        MyOrders([o for o in found if o is not None]), headers={"Cache-Control": "no-store"}
    )


routes = [Route("/api/orders", my_orders, methods=["GET"])]
