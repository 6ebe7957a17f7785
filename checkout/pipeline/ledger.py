"""The relay's ledger: every ``order.reserved`` event it has published, per round.

A Redis hash under the round's hash tag (``fs:{r:<round>}:relay:reserved``), field = order id,
value = the event's JSON. It is written in the same MULTI as the XACK/XDEL of the outbox entry,
so an entry trimmed from the outbox is always in the ledger. Reconcile uses it to list the
reservations Redis acknowledged and ``--repair`` re-publishes missing ones from it. The values
carry only what the event carries (masked/encrypted PII).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from checkout.events import OrderEvent
from inventory.keys import RoundKeys


def ledger_key(round_id: str) -> str:
    return RoundKeys(round_id).key("relay:reserved")


def dead_letter_key(round_id: str) -> str:
    """Outbox entries the relay could not publish (malformed, oversize, refused by Kafka), parked
    with ``_entry_id`` and ``_reason`` in the MULTI that acks them; the relay moves them into
    PostgreSQL's ``parked_events`` when it has a pool (see :mod:`checkout.pipeline.relay`)."""
    return RoundKeys(round_id).key("outbox:dead")


async def reserved_ids(redis: Redis, round_id: str) -> set[str]:
    keys: list[Any] = await redis.hkeys(ledger_key(round_id))  # type: ignore[misc]
    return {k.decode() for k in keys}


async def reserved_events(redis: Redis, round_id: str, order_ids: list[str]) -> list[OrderEvent]:
    if not order_ids:
        return []
    raw: list[Any] = await redis.hmget(ledger_key(round_id), order_ids)  # type: ignore[misc]
    return [OrderEvent.from_json(value) for value in raw if value is not None]
