"""Reconcile one round: Redis (what shoppers were told) against PostgreSQL (what was written).

Checks, each a named difference when it fails:

- ``stock``: held + paid + left == stocked (needs the inventory's round stats)
- ``missing_in_pg``: a reservation Redis acknowledged has no complete order row
- ``partial_in_pg``: an order row whose ``order.reserved`` never arrived
- ``unknown_in_pg``: an order row Redis does not know
- ``status``: an order's (status, seq) differs between the inventory and PostgreSQL
- ``held`` / ``paid``: units by status in PostgreSQL differ from the Redis counters
- ``parked``: events of the round a process parked (``parked_events`` not retried or resolved,
  plus relay dead-stream entries not yet moved there); list them with ``flashsale parked list``

The outbox backlog and the writer group's Kafka lag are reported alongside: when either is
non-zero, differences may just be in flight. ``repair`` re-publishes, straight to Kafka, the
events of orders missing downstream: the ``order.reserved`` from the relay ledger plus any later
events of the order still in ``order_events`` (the writers apply them idempotently by seq).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from checkout.events import OrderEvent
from checkout.pipeline import relay
from checkout.pipeline.ledger import dead_letter_key, outbox_spaces, reserved_events
from checkout.pipeline.observe import (
    counters,
    kafka_lag,
    outbox_backlog,
    persisted,
    redis_orders,
    redis_states,
)
from flashsale.core.kafka import RECONCILE, make_producer, writer_group
from flashsale.core.parked import open_count
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from inventory import Inventory

SAMPLE = 20
_PAID = ("paid", "shipped", "delivered")


@dataclass
class Difference:
    code: str
    message: str
    count: int = 0
    sample: list[str] = field(default_factory=list)


@dataclass
class Report:
    round_id: str
    source: str
    redis: dict[str, Any]
    postgres: dict[str, Any]
    outbox: dict[str, int]
    kafka_lag: int | None
    differences: list[Difference]
    missing: list[str] = field(default_factory=list, repr=False)
    parked: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("missing")
        data["ok"] = self.ok
        return data


async def _pg_side(
    pool: asyncpg.Pool, round_id: str
) -> tuple[dict[str, Any], dict[str, tuple[str, int]], set[str]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(
            "SELECT id, status, seq, reserved_at IS NOT NULL AS full FROM orders "
            "WHERE round_id = $1",
            round_id,
        )
        summary = (await persisted(conn, [round_id]))[round_id]  # the same snapshot
    by_status = {s: asdict(c) for s, c in summary.by_status.items()}
    complete = {r["id"]: (r["status"], r["seq"]) for r in rows if r["full"]}
    partial = {r["id"] for r in rows if not r["full"]}
    return {"orders": summary.orders, "by_status": by_status}, complete, partial


def _agrees(in_redis: tuple[str, int], in_pg: tuple[str, int] | None) -> bool:
    """Same status and seq — or paid in Redis and already shipped/delivered in PostgreSQL
    (fulfillment's shipment events move the order on past what Redis tracks)."""
    if in_pg == in_redis:
        return True
    return in_pg is not None and in_redis[0] == "paid" and in_pg[0] in ("shipped", "delivered")


def _diff(code: str, message: str, ids: set[str]) -> Difference:
    return Difference(code, message, len(ids), sorted(ids)[:SAMPLE])


async def reconcile(
    settings: Settings,
    redis: Redis,
    pool: asyncpg.Pool,
    round_id: str,
    *,
    group: str | None = None,
) -> Report:
    inventory = Inventory(redis)
    side = await redis_orders(inventory, redis, round_id)
    pg, complete, partial = await _pg_side(pool, round_id)
    backlog = await outbox_backlog(redis, round_id, relay.GROUP)
    writers = group or writer_group(settings.topic_prefix)
    lag = await kafka_lag(settings, Topics(settings.topic_prefix).orders, writers)
    diffs: list[Difference] = []
    redis_info: dict[str, Any] = {"orders": len(side.order_ids)}
    if side.stats is not None:
        st = side.stats
        redis_info.update(counters(st))
        sold = st.held + st.paid
        if sold + st.left != st.stocked:
            diffs.append(
                Difference(
                    "stock",
                    f"held {st.held} + paid {st.paid} + left {st.left} != stocked {st.stocked}",
                )
            )
        units = {s: v["units"] for s, v in pg["by_status"].items()}
        pg_paid = sum(units.get(s, 0) for s in _PAID)
        if units.get("reserved", 0) != st.held:
            diffs.append(
                Difference(
                    "held",
                    f"Redis holds {st.held} units, PostgreSQL has "
                    f"{units.get('reserved', 0)} reserved",
                )
            )
        if pg_paid != st.paid:
            diffs.append(
                Difference("paid", f"Redis paid {st.paid} units, PostgreSQL has {pg_paid} paid")
            )
    missing = side.order_ids - set(complete)
    if missing:
        diffs.append(
            _diff(
                "missing_in_pg",
                f"{len(missing)} reservation(s) acknowledged in Redis have no order "
                "row in PostgreSQL",
                missing,
            )
        )
    if partial:
        diffs.append(
            _diff(
                "partial_in_pg",
                f"{len(partial)} order row(s) lack their order.reserved event",
                partial,
            )
        )
    unknown = set(complete) - side.order_ids
    if unknown:
        diffs.append(
            _diff("unknown_in_pg", f"{len(unknown)} order row(s) unknown to Redis", unknown)
        )
    states = None
    if side.stats is not None:
        states = await redis_states(inventory, round_id, side.order_ids & set(complete))
    if states:
        wrong = {oid for oid, state in states.items() if not _agrees(state, complete.get(oid))}
        if wrong:
            diffs.append(
                _diff(
                    "status",
                    f"{len(wrong)} order(s) differ in status/seq between Redis and PostgreSQL",
                    wrong,
                )
            )
    parked, sample = await open_count(pool, round_id)
    unmoved = sum(  # a bucketed round's dead streams are its buckets'
        [int(await redis.xlen(dead_letter_key(s))) for s in await outbox_spaces(redis, round_id)]
    )
    if parked or unmoved:
        sample += [f"outbox:dead:{unmoved}"] if unmoved else []
        diffs.append(
            Difference(
                "parked",
                f"{parked + unmoved} event(s) of the round are parked "
                "(flashsale parked list --round ...)",
                parked + unmoved,
                sample[:SAMPLE],
            )
        )
    return Report(
        round_id,
        side.source,
        redis_info,
        pg,
        backlog,
        lag,
        diffs,
        missing=sorted(missing | partial),
        parked=parked + unmoved,
    )


async def repair(settings: Settings, redis: Redis, pool: asyncpg.Pool, report: Report) -> int:
    """Re-publish the events of the report's missing orders; returns how many were sent."""
    if not report.missing:
        return 0
    events: dict[str, OrderEvent] = {
        e.event_id: e for e in await reserved_events(redis, report.round_id, report.missing)
    }
    rows = await pool.fetch(
        "SELECT event_id, type, order_id, round_id, seq, status, "
        "(extract(epoch FROM at) * 1000)::bigint AS at, data::text AS data "
        "FROM order_events WHERE order_id = ANY($1::text[])",
        report.missing,
    )
    for r in rows:
        events.setdefault(
            r["event_id"],
            OrderEvent(
                r["event_id"],
                r["type"],
                r["order_id"],
                r["round_id"],
                r["seq"],
                r["status"],
                r["at"],
                orjson.loads(r["data"]),
            ),
        )
    if not events:
        return 0
    producer = make_producer(settings, client_id=RECONCILE)
    await producer.start()
    try:
        topic = Topics(settings.topic_prefix).orders
        futures = [
            await producer.send(topic, e.to_json(), key=e.order_id.encode())
            for e in sorted(events.values(), key=lambda e: (e.order_id, e.seq))
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(events)
