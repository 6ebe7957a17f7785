"""Helpers for the inventory tests: a round spec and a reservation request with every field
set (override what a test is about), and the events of a round's outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from checkout.events import OrderEvent
from inventory import ReserveRequest, RoundKeys, RoundSpec
from tests.support.offer import snapshot


def make_spec(round_id: str, **over: Any) -> RoundSpec:
    base: dict[str, Any] = {
        "round_id": round_id, "offer_id": "sim-20", "stock": 10,
        "starts_at": datetime.now(UTC) - timedelta(minutes=1),
        "ends_at": datetime.now(UTC) + timedelta(hours=1),
        "per_account_limit": 2, "per_id_limit": 2, "hold_seconds": 900,
        "number_choice": False, "channels": ("web", "mobile"), "status": "live",
        "agreement_version": "v1",
        "offer": snapshot(gifts=[]),  # an empty list and a null: both survive the scripts
    }  # fmt: skip
    base.update(over)
    return RoundSpec(**base)


def req(round_id: str, buyer: str, **over: Any) -> ReserveRequest:
    base: dict[str, Any] = {
        "round_id": round_id, "buyer_id": buyer, "id_hash": f"id-{buyer}", "quantity": 1,
        "idempotency_key": f"k-{buyer}", "channel": "web", "agreement_version": "v1",
        "pii": {"name": "Zhang San", "id_masked": "1101**********123X"},
    }  # fmt: skip
    base.update(over)
    return ReserveRequest(**base)


async def events(redis: aioredis.Redis, round_id: str) -> list[OrderEvent]:
    entries = await redis.xrange(RoundKeys(round_id).outbox)
    return [OrderEvent.from_fields(fields) for _, fields in entries]
