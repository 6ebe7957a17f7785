"""The relay's ledger: every ``order.reserved`` event it has published, per round.

A Redis hash under the round's hash tag (``fs:{r:<round>}:relay:reserved``; a round of stock
buckets has one per bucket, beside the bucket's outbox), field = order id,
value = the event's JSON. It is written in the same MULTI as the XACK/XDEL of the outbox entry,
so an entry trimmed from the outbox is always in the ledger. Reconcile uses it to list the
reservations Redis acknowledged and ``--repair`` re-publishes missing ones from it. The values
carry only what the event carries (masked/encrypted PII).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from checkout.events import OrderEvent
from inventory.keys import RoundKeys, bucket_spaces


def ledger_key(round_id: str) -> str:
    return RoundKeys(round_id).key("relay:reserved")


def dead_letter_key(round_id: str) -> str:
    """Outbox entries the relay could not publish (malformed, oversize, refused by Kafka), parked
    with ``_entry_id`` and ``_reason`` in the MULTI that acks them; the relay moves them into
    PostgreSQL's ``parked_events`` when it has a pool (see :mod:`checkout.pipeline.relay`)."""
    return RoundKeys(round_id).key("outbox:dead")


async def outbox_spaces(redis: Redis, round_id: str) -> list[str]:
    """The key spaces holding the round's outboxes (and ledgers): the round's own, and for a
    round of stock buckets (``meta.buckets`` > 1, :mod:`inventory._buckets`) each bucket's,
    which hold its events (the round's own outbox stays empty)."""
    raw = await redis.hget(RoundKeys(round_id).meta, "buckets")  # type: ignore[misc]
    return with_buckets(round_id, raw)


def with_buckets(round_id: str, raw: bytes | str | int | None) -> list[str]:
    """The spaces of a round whose ``meta.buckets`` field is ``raw``."""
    n = int(raw or 1)
    return [round_id, *bucket_spaces(round_id, n)] if n > 1 else [round_id]


async def reserved_ids(redis: Redis, round_id: str) -> set[str]:
    """Ids of the round's orders whose ``order.reserved`` the relay published (every bucket's)."""
    found: set[str] = set()
    for space in await outbox_spaces(redis, round_id):
        keys: list[Any] = await redis.hkeys(ledger_key(space))  # type: ignore[misc]
        found.update(k.decode() for k in keys)
    return found


async def reserved_events(redis: Redis, round_id: str, order_ids: list[str]) -> list[OrderEvent]:
    """The published ``order.reserved`` events of ``order_ids`` (from whichever bucket's
    ledger holds each)."""
    if not order_ids:
        return []
    found: list[OrderEvent] = []
    for space in await outbox_spaces(redis, round_id):
        raw: list[Any] = await redis.hmget(ledger_key(space), order_ids)  # type: ignore[misc]
        found.extend(OrderEvent.from_json(value) for value in raw if value is not None)
    return found
