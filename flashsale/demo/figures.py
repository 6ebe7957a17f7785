"""What the demo watches while it runs: one sample of every figure, from Redis, PostgreSQL,
the outbox and Kafka."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from checkout.pipeline import relay
from checkout.pipeline._sources import kafka_lag, outbox_backlog
from flashsale.core.kafka import WRITER_GROUP
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from inventory import Inventory


@dataclass
class Sample:
    at: float
    stocked: int
    left: int
    held: int
    paid: int
    released: int
    refund_required: int
    orders: int  # reservations acknowledged (Redis)
    pg_orders: int  # complete order rows in PostgreSQL
    pg_paid: int
    shipments: int
    delivered: int
    dead_letters: int
    outbox: int
    kafka_lag: int | None

    @property
    def sold(self) -> int:
        return self.stocked - self.left

    @property
    def oversold(self) -> int:
        return max(0, -self.left) + max(0, self.held + self.paid - self.stocked)


class Watcher:
    def __init__(self, settings: Settings, redis: Redis, pool: asyncpg.Pool, round_id: str) -> None:
        self.settings = settings
        self.redis = redis
        self.pool = pool
        self.round_id = round_id
        self.inventory = Inventory(redis)
        self._lag: int | None = None
        self._lag_at = 0.0

    async def sample(self) -> Sample:
        st = await self.inventory.stats(self.round_id)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT count(*) FILTER (WHERE reserved_at IS NOT NULL) AS orders,
                          count(*) FILTER (WHERE paid_at IS NOT NULL) AS paid
                   FROM orders WHERE round_id = $1""",
                self.round_id,
            )
            ship = await conn.fetchrow(
                """SELECT count(*) AS shipments,
                          count(*) FILTER (WHERE state = 'delivered') AS delivered,
                          (SELECT count(*) FROM fulfillment_dead_letters
                           WHERE round_id = $1 AND requeued_at IS NULL) AS dead
                   FROM shipments WHERE round_id = $1""",
                self.round_id,
            )
        backlog = await outbox_backlog(self.redis, self.round_id, relay.GROUP)
        now = time.monotonic()
        if now - self._lag_at > 2:  # a Kafka admin round trip: not every tick
            self._lag = await kafka_lag(
                self.settings, Topics(self.settings.topic_prefix).orders, WRITER_GROUP
            )
            self._lag_at = now
        return Sample(
            at=now,
            stocked=st.stocked,
            left=st.left,
            held=st.held,
            paid=st.paid,
            released=st.released,
            refund_required=st.refund_required,
            orders=st.orders,
            pg_orders=int(row["orders"]),
            pg_paid=int(row["paid"]),
            shipments=int(ship["shipments"]),
            delivered=int(ship["delivered"]),
            dead_letters=int(ship["dead"]),
            outbox=backlog["length"],
            kafka_lag=self._lag,
        )
