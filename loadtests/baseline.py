"""The naive baselines for P3 and P4: what a typical shop does per request, served by the
same front. Only served by the bench's app factory (:func:`create_app`), never in production.

- P3, ``POST /api/rounds/naive/{round_id}/orders``: authenticates and validates exactly like the
  real endpoint, then in one PostgreSQL transaction runs the conditional
  ``UPDATE bench_stock SET stock = stock - q WHERE round_id = $1 AND stock >= q`` and inserts
  the order row.
- P4, ``POST /api/rounds/naive-redis/{round_id}/orders``: the usual Python seckill — the same
  authentication, validation and PII protection, then ONE ``EVALSHA`` of the same reserve
  script per request through redis-py (no batching, no sold-out knowledge).
"""

from __future__ import annotations

import asyncio

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkout import pii
from checkout.flow import ReservationRefused
from checkout.purchase import BuyRequest
from flashsale.core.settings import Settings
from flashsale.front import body
from flashsale.front.app import create_app as create_real_app
from flashsale.front.auth import buyer_id
from flashsale.front.errors import ApiError
from flashsale.front.headers import idempotency_key
from flashsale.front.responses import JSONResponse
from flashsale.front.state import AppState, app_state
from inventory import RoundKeys
from inventory.models import reserve_batch
from inventory.scripts import script

SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_stock (round_id text PRIMARY KEY, stock bigint NOT NULL);
CREATE TABLE IF NOT EXISTS bench_orders (
    id bigserial PRIMARY KEY, round_id text NOT NULL, buyer_id text NOT NULL,
    id_hash text NOT NULL, quantity int NOT NULL, idempotency_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (round_id, idempotency_key));
"""

_pool: asyncpg.Pool | None = None
_lock = asyncio.Lock()


async def prepare(dsn: str, round_id: str, stock: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
        await conn.execute(
            "INSERT INTO bench_stock VALUES ($1, $2) ON CONFLICT (round_id) DO UPDATE "
            "SET stock = EXCLUDED.stock",
            round_id,
            stock,
        )
    finally:
        await conn.close()


async def _get_pool(settings: Settings) -> asyncpg.Pool:
    global _pool
    async with _lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(settings.database_url, min_size=4, max_size=16)
    assert _pool is not None
    return _pool


async def _checked(request: Request) -> tuple[str, str, BuyRequest, AppState]:
    """What both naive endpoints do first, exactly as the real one: the buyer's token, the
    Idempotency-Key, the body decoded and checked."""
    buyer = buyer_id(request)
    key = idempotency_key(request.headers)
    buy = (await body.read(request, BuyRequest)).checked()
    return buyer, key, buy, app_state(request)


async def naive_order(request: Request) -> Response:
    buyer, key, buy, state = await _checked(request)
    id_hash = pii.id_hash(buy.id_number, state.pii_keys)
    pool = await _get_pool(state.settings)
    async with pool.acquire() as conn, conn.transaction():
        left = await conn.fetchval(
            "UPDATE bench_stock SET stock = stock - $2 WHERE round_id = $1 AND stock >= $2 "
            "RETURNING stock",
            request.path_params["round_id"],
            buy.quantity,
        )
        if left is None:
            raise ApiError("sold_out", "sold out")
        order_id = await conn.fetchval(
            "INSERT INTO bench_orders (round_id, buyer_id, id_hash, quantity, idempotency_key) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            request.path_params["round_id"],
            buyer,
            id_hash,
            buy.quantity,
            key,
        )
    return JSONResponse({"order_id": str(order_id), "status": "reserved"}, status_code=201)


async def naive_redis_order(request: Request) -> Response:
    buyer, key, buy, state = await _checked(request)
    round_id = request.path_params["round_id"]
    item = state.checkout.reserve_request(round_id, buyer, key, buy).script_item()
    rows, _ = await script("reserve")(
        state.redis, RoundKeys(round_id).script_keys(), [round_id, reserve_batch([item])]
    )
    code, order_id, pay_before = rows[0][:3]
    if code:
        raise ReservationRefused(code.decode())
    answer = {"order_id": order_id.decode(), "status": "reserved", "pay_before": pay_before}
    return JSONResponse(answer, status_code=201)


def create_app(settings: Settings | None = None) -> Starlette:
    app = create_real_app(settings)
    app.router.routes[0:0] = [
        Route("/api/rounds/naive/{round_id}/orders", naive_order, methods=["POST"]),
        Route("/api/rounds/naive-redis/{round_id}/orders", naive_redis_order, methods=["POST"]),
    ]
    return app
