"""What the demo watches while it runs: one sample of every figure, from Redis, PostgreSQL,
the outbox and Kafka."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from checkout.pipeline import observe
from flashsale.core.settings import Settings
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
        self._lag = observe.Lag(settings, ttl=2.0)  # a Kafka admin round trip: not every tick

    async def sample(self) -> Sample:
        st = await self.inventory.stats(self.round_id)
        rows = (await observe.persisted(self.pool, [self.round_id]))[self.round_id]
        ship = await observe.shipments(self.pool, self.round_id)
        backlog = await observe.outbox_backlog(self.redis, self.round_id)
        lag = await self._lag.read()
        return Sample(
            at=time.monotonic(),
            **observe.counters(st),
            orders=st.orders,
            pg_orders=rows.complete,
            pg_paid=rows.paid,
            shipments=ship.total,
            delivered=ship.by_state.get("delivered", 0),
            dead_letters=ship.dead_open,
            outbox=backlog["length"],
            kafka_lag=lag,
        )
