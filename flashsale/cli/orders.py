"""`flashsale order show ORDER_ID`: one order as support sees it (admin credential).

The order comes from Redis while its round is there, else from the archive in PostgreSQL
(:mod:`checkout.pipeline.archive`), with what PostgreSQL persisted (status, shipment). Personal
data is
masked: the masked ID number only, never its hash or ciphertext; name and address shortened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import click
import orjson
import redis.asyncio as aioredis

import fulfillment
from checkout.archived import archived_order
from checkout.flow import public_order
from flashsale.cli._output import CliError, emit, json_option
from flashsale.cli.common import execute, operator, settings, token_file_option
from flashsale.core.db import create_pool
from flashsale.core.redis import redis_client
from inventory import Inventory
from inventory.keys import ROUND_ID

_SHOWN = ("order_id", "round_id", "source", "status", "persisted_status", "buyer_id",
          "quantity", "number", "channel", "payment_id", "amount", "shipment_state")  # fmt: skip


def mask_text(value: object, keep: int) -> str | None:
    """The first ``keep`` characters, the rest as ``*`` (at most 8 of them)."""
    if not isinstance(value, str) or not value:
        return None
    return value[:keep] + "*" * min(max(len(value) - keep, 1), 8)


def masked_pii(pii: object) -> dict[str, str | None]:
    data = pii if isinstance(pii, dict) else {}
    id_masked = data.get("id_masked")
    return {
        "real_name": mask_text(data.get("real_name"), 1),
        "address": mask_text(data.get("address"), 6),
        "id_masked": id_masked if isinstance(id_masked, str) else None,
    }


async def find_order(
    redis: aioredis.Redis, pool: asyncpg.Pool, order_id: str
) -> dict[str, Any] | None:
    round_id, _, seq = order_id.rpartition("-")
    if not (ROUND_ID.fullmatch(round_id) and seq.isascii() and seq.isdigit() and len(seq) < 16):
        return None  # not an order id (any text may be typed)
    async with Inventory(redis) as inventory:
        order = await inventory.order(round_id, order_id)
    source = "redis"
    if order is None:
        order = await archived_order(pool, order_id)
        source = "archive"
    if order is None:
        return None
    row = await pool.fetchrow("SELECT status, pii::text AS pii FROM orders WHERE id = $1", order_id)
    shipment = await fulfillment.tracking(pool, order_id)
    return {
        **public_order(order),
        "buyer_id": order.get("buyer_id"),
        "source": source,
        "persisted_status": row["status"] if row else None,
        "pii": masked_pii(orjson.loads(row["pii"]) if row and row["pii"] else None),
        "shipment": shipment,
        "shipment_state": shipment["state"] if shipment else None,
    }


@click.group("order")
def order_group() -> None:
    """Look up shoppers' orders (support)."""


@order_group.command("show")
@click.argument("order_id")
@token_file_option
@json_option
def show(order_id: str, token_file: Path | None, as_json: bool) -> None:
    """One order: status in Redis (or the archive) and in PostgreSQL, payment, shipment.

    \b
    Examples:
      flashsale order show r7k2m9qa-42
      flashsale order show r7k2m9qa-42 --json
    """
    operator(token_file)
    cfg = settings()

    async def go() -> dict[str, Any] | None:
        pool = await create_pool(cfg.database_url, max_size=2)
        redis = redis_client(cfg.redis_url)
        try:
            return await find_order(redis, pool, order_id)
        finally:
            await redis.aclose()
            await pool.close()

    order = execute(go())
    if order is None:
        raise CliError(f"no such order {order_id!r}")
    emit(
        order,
        as_json,
        rows=[{"field": f, "value": order.get(f)} for f in _SHOWN]
        + [{"field": f"pii.{k}", "value": v} for k, v in order["pii"].items()],
        columns=["field", "value"],
        title=f"order {order_id}",
    )
