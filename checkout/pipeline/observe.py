"""Observe a round: the figures every reader of a round shows, read in one place.

The ops dashboard (``flashsale.front.routes.dashboard``), the demo's watcher
(``flashsale.demo.figures``), the round report (``catalog.report``) and reconcile
(:mod:`checkout.pipeline.reconcile`) read a round's state from here:

- Redis: the inventory's counters (:func:`redis_stats`, :func:`counters`), the orders it
  acknowledged and their (status, seq) (:func:`redis_orders`, :func:`redis_states`);
- the outbox: its length and the relay group's pending entries (:func:`outbox_backlog`), the
  lengths of many rounds' outboxes at once (:func:`outbox_lengths`); a round of stock buckets
  has one outbox per bucket (:func:`outbox_spaces`), summed;
- PostgreSQL: order rows by status (:func:`persisted`), per minute and by channel
  (:func:`timeline`), shipments and fulfillment dead letters (:func:`shipments`);
- Kafka: the writer group's lag on the orders topic (:func:`kafka_lag`, cached by :class:`Lag`);
- derived once for every reader: the stage a round is in (:func:`stage`: upcoming, live, paused,
  sold out, units returned, closed) and its selling rate (:func:`rate`).

Every query reads the tables as the migrations define them (``flashsale/core/db/migrations``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from checkout.pipeline import relay
from checkout.pipeline.ledger import outbox_spaces, reserved_ids, with_buckets
from flashsale.core.kafka import OBSERVER, writer_group
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from inventory import Inventory, RoundKeys, RoundNotArmed, RoundStats
from inventory.spec import CHANNELS

#: asyncpg.Pool and asyncpg.Connection both answer fetch/fetchrow/fetchval.
Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


# -- Redis ------------------------------------------------------------------------------------


async def redis_stats(inventory: Inventory, round_id: str) -> RoundStats | None:
    """The round's counters in Redis, or None when Redis does not hold the round (not armed,
    or archived out of it)."""
    try:
        return await inventory.stats(round_id)
    except RoundNotArmed:
        return None


#: The unit counters of a round (fields of :class:`inventory.RoundStats`), as every report
#: names them, in that order.
UNIT_COUNTERS = ("stocked", "left", "held", "paid", "released", "refund_required")


def counters(stats: RoundStats) -> dict[str, int]:
    """The unit counters of a round (:data:`UNIT_COUNTERS`)."""
    return {name: getattr(stats, name) for name in UNIT_COUNTERS}


@dataclass
class RedisSide:
    """What Redis told shoppers about a round: its counters (None when it no longer holds the
    round) and every reservation acknowledged (the inventory's orders plus the relay ledger)."""

    source: str  # "inventory" | "relay-ledger"
    stats: RoundStats | None
    order_ids: set[str]


async def redis_orders(inventory: Inventory, redis: Redis, round_id: str) -> RedisSide:
    ledger = await reserved_ids(redis, round_id)
    stats = await redis_stats(inventory, round_id)
    if stats is None:
        return RedisSide("relay-ledger", None, ledger)
    return RedisSide("inventory", stats, await inventory.order_ids(round_id) | ledger)


async def redis_states(
    inventory: Inventory, round_id: str, order_ids: set[str]
) -> dict[str, tuple[str, int]]:
    """(status, seq) of each order Redis still holds."""
    return await inventory.order_states(round_id, sorted(order_ids))


async def outbox_backlog(redis: Redis, round_id: str, group: str = relay.GROUP) -> dict[str, int]:
    """Entries in the round's outbox streams and those the relay group read but not acked
    (summed over a bucketed round's buckets)."""
    length = pending = 0
    for space in await outbox_spaces(redis, round_id):
        key = RoundKeys(space).outbox
        length += int(await redis.xlen(key))
        with contextlib.suppress(ResponseError):  # no such group yet: nothing was ever read
            pending += int((await redis.xpending(key, group))["pending"])
    return {"length": length, "pending": pending}


async def outbox_lengths(redis: Redis, round_ids: Sequence[str]) -> dict[str, int]:
    """Entries in each round's outbox streams (a bucketed round's summed over its buckets), in
    two pipelined round trips."""
    if not round_ids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for rid in round_ids:
            pipe.hget(RoundKeys(rid).meta, "buckets")
        counts = await pipe.execute()
    spaces = [
        (rid, s) for rid, n in zip(round_ids, counts, strict=True) for s in with_buckets(rid, n)
    ]
    async with redis.pipeline(transaction=False) as pipe:
        for _rid, space in spaces:
            pipe.xlen(RoundKeys(space).outbox)
        lengths = await pipe.execute()
    total = dict.fromkeys(round_ids, 0)
    for (rid, _space), n in zip(spaces, lengths, strict=True):
        total[rid] += int(n)
    return total


# -- what the figures mean (one place, so the report, the dashboard and the demo agree) -------

STAGES = ("upcoming", "live", "paused", "sold_out", "units_returned", "closed")


def stage(
    status: str, left: int, sold_out_at: float | None, starts_at: float, ends_at: float, now: float
) -> str:
    """The round's stage from its status and counters (times in seconds since the epoch):
    ``units_returned`` is a round that sold out and got units back (expired or cancelled holds,
    a restock) — it sells again, and its first sell-out time stays known."""
    if status == "closed" or now >= ends_at:
        return "closed"
    if status == "scheduled" or now < starts_at:
        return "upcoming"
    if status == "paused":
        return "paused"
    if left <= 0:
        return "sold_out"
    return "live" if sold_out_at is None else "units_returned"


@dataclass(frozen=True)
class Rate:
    """Orders per minute over the minutes the round sold in (first order's minute to the last
    one's, both counted), and the busiest minute."""

    per_minute: int
    peak_minute: datetime | None
    peak_orders: int


def rate(per_minute: Sequence[tuple[datetime, int]]) -> Rate:
    if not per_minute:
        return Rate(0, None, 0)
    total = sum(n for _, n in per_minute)
    minutes = int((per_minute[-1][0] - per_minute[0][0]).total_seconds() // 60) + 1
    peak = max(per_minute, key=lambda m: m[1])
    return Rate(round(total / minutes), peak[0], peak[1])


# -- PostgreSQL -------------------------------------------------------------------------------

_PERSISTED = """
SELECT round_id, status, count(*) AS orders, coalesce(sum(quantity), 0)::bigint AS units,
       count(*) FILTER (WHERE reserved_at IS NOT NULL) AS complete,
       count(*) FILTER (WHERE paid_at IS NOT NULL) AS paid
FROM orders WHERE round_id = ANY($1::text[]) GROUP BY round_id, status"""


@dataclass(frozen=True)
class StatusCount:
    orders: int
    units: int


@dataclass
class Persisted:
    """A round's order rows in PostgreSQL: by status, how many are complete (their
    ``order.reserved`` arrived) and how many were paid."""

    by_status: dict[str, StatusCount] = field(default_factory=dict)
    complete: int = 0
    paid: int = 0

    @property
    def orders(self) -> int:
        return sum(s.orders for s in self.by_status.values())

    def units(self, *statuses: str) -> int:
        return sum(self.by_status[s].units for s in statuses if s in self.by_status)


async def persisted(db: Db, round_ids: Sequence[str]) -> dict[str, Persisted]:
    """:class:`Persisted` of each round (a round without rows maps to an empty one)."""
    out = {rid: Persisted() for rid in round_ids}
    for r in await db.fetch(_PERSISTED, list(round_ids)):
        p = out[r["round_id"]]
        p.by_status[r["status"]] = StatusCount(int(r["orders"]), int(r["units"]))
        p.complete += int(r["complete"])
        p.paid += int(r["paid"])
    return out


_PER_MINUTE = """
SELECT date_trunc('minute', COALESCE(reserved_at, created_at)) AS minute, count(*) AS n
FROM orders WHERE round_id = $1 GROUP BY 1 ORDER BY 1"""
_BY_CHANNEL = """
SELECT channel, count(*) AS n FROM orders WHERE round_id = $1 AND channel IS NOT NULL
GROUP BY channel"""


@dataclass
class Timeline:
    """Orders of a round per minute (when the shopper reserved; when the row was written
    while its ``order.reserved`` has not arrived) and by sales channel."""

    per_minute: list[tuple[datetime, int]]
    by_channel: dict[str, int]


_PER_SECOND = """
SELECT date_trunc('second', COALESCE(reserved_at, created_at)) AS second, count(*) AS n
FROM orders WHERE round_id = $1 GROUP BY 1 ORDER BY 1"""


async def sales_curve(db: Db, round_id: str) -> list[tuple[datetime, int]]:
    """Orders per second (for the sales curve a report can plot)."""
    return [(r["second"], int(r["n"])) for r in await db.fetch(_PER_SECOND, round_id)]


_LAST_SALE = """
WITH t AS (SELECT round_id, COALESCE(reserved_at, created_at) AS at FROM orders
           WHERE round_id = ANY($1::text[])),
     last AS (SELECT round_id, max(at) AS at FROM t GROUP BY round_id)
SELECT t.round_id, date_trunc('second', t.at) AS second, count(*) AS n, last.at AS last_at
FROM t JOIN last USING (round_id)
WHERE t.at > last.at - make_interval(secs => $2)
GROUP BY t.round_id, 2, last.at ORDER BY 1, 2"""


@dataclass
class LastSale:
    """The last ``window`` seconds of a round's selling, ending at its latest order: what a
    chart shows while the round is idle (times in milliseconds since the epoch)."""

    at: int
    per_second: list[tuple[int, int]]

    @property
    def orders(self) -> int:
        return sum(n for _, n in self.per_second)


async def last_sales(db: Db, round_ids: Sequence[str], window: float = 120) -> dict[str, LastSale]:
    """:class:`LastSale` of each round that has orders."""
    out: dict[str, LastSale] = {}
    for r in await db.fetch(_LAST_SALE, list(round_ids), float(window)):
        sale = out.setdefault(r["round_id"], LastSale(int(r["last_at"].timestamp() * 1000), []))
        sale.per_second.append((int(r["second"].timestamp() * 1000), int(r["n"])))
    return out


async def timeline(db: Db, round_id: str) -> Timeline:
    per_minute = [(r["minute"], int(r["n"])) for r in await db.fetch(_PER_MINUTE, round_id)]
    by_channel = dict.fromkeys(CHANNELS, 0)
    for r in await db.fetch(_BY_CHANNEL, round_id):
        by_channel[str(r["channel"])] = int(r["n"])
    return Timeline(per_minute, by_channel)


_SHIPMENTS_ALL = "SELECT state, count(*) AS n FROM shipments GROUP BY state"
_SHIPMENTS_OF = "SELECT state, count(*) AS n FROM shipments WHERE round_id = $1 GROUP BY state"
_BACKLOG_ALL = """
SELECT count(*) FROM orders o WHERE o.status = 'paid'
AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id)"""
_BACKLOG_OF = _BACKLOG_ALL + " AND o.round_id = $1"
_DEAD_ALL = """
SELECT count(*) AS total, count(*) FILTER (WHERE requeued_at IS NULL) AS open
FROM fulfillment_dead_letters"""
_DEAD_OF = _DEAD_ALL + " WHERE round_id = $1"


@dataclass
class Shipments:
    """Shipments by state, paid orders without one (the backlog), fulfillment dead letters
    (all, and those not re-queued)."""

    by_state: dict[str, int]
    backlog: int
    dead_letters: int
    dead_open: int

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


async def shipments(db: Db, round_id: str | None = None) -> Shipments:
    """Of one round, or of every round when ``round_id`` is None."""
    args: tuple[str, ...] = () if round_id is None else (round_id,)
    one = round_id is not None
    rows = await db.fetch(_SHIPMENTS_OF if one else _SHIPMENTS_ALL, *args)
    backlog = await db.fetchval(_BACKLOG_OF if one else _BACKLOG_ALL, *args)
    dead = await db.fetchrow(_DEAD_OF if one else _DEAD_ALL, *args)
    return Shipments(
        {str(r["state"]): int(r["n"]) for r in rows},
        int(backlog),
        int(dead["total"]),
        int(dead["open"]),
    )


# -- Kafka ------------------------------------------------------------------------------------


async def kafka_lag(settings: Settings, topic: str, group: str) -> int | None:
    """Messages on ``topic`` not yet committed by ``group``; None if Kafka is unreachable."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000, client_id=OBSERVER
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=5000,
        enable_auto_commit=False,
        client_id=OBSERVER,
    )
    try:
        await admin.start()
        await consumer.start()
        # the consumer's own metadata knows no topic until it is asked about one: the admin
        # client's description of the topic names its partitions
        described = await admin.describe_topics([topic])
        parts = [p["partition"] for d in described if d["error_code"] == 0 for p in d["partitions"]]
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(
            max(0, ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp])
            for tp in tps
        )
    except (KafkaError, OSError):
        return None
    finally:
        await consumer.stop()
        await admin.close()


#: How long :meth:`Lag.aclose` lets a lag lookup in flight finish (its Kafka requests time out
#: after 5 s) before cancelling it.
CLOSE_WAIT = 8.0


class Lag:
    """The writer group's lag on the orders topic, read at most every ``ttl`` seconds (an
    admin round trip to Kafka): :meth:`read` waits for a fresh figure when the last is stale,
    :meth:`peek` answers at once and refreshes in the background."""

    def __init__(self, settings: Settings, ttl: float, group: str | None = None) -> None:
        self._settings = settings
        self._ttl = ttl
        self._group = group or writer_group(settings.topic_prefix)
        self._lag: int | None = None
        self._at = 0.0
        self._task: asyncio.Task[None] | None = None

    def _stale(self) -> bool:
        return time.monotonic() - self._at > self._ttl

    async def _refresh(self) -> None:
        topic = Topics(self._settings.topic_prefix).orders
        self._lag = await kafka_lag(self._settings, topic, self._group)
        self._at = time.monotonic()

    async def read(self) -> int | None:
        if self._stale():
            await self._refresh()
        return self._lag

    def peek(self) -> tuple[int | None, float | None]:
        """The last figure and its age in seconds (None before the first)."""
        if self._stale() and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._refresh())
        age = None if self._at == 0 else round(time.monotonic() - self._at, 1)
        return self._lag, age

    async def aclose(self) -> None:
        """Idempotent: end a background refresh. It is let finish (its requests time out after
        a few seconds) rather than cancelled: aiokafka cancelled while it connects leaves the
        connection open, and the socket is only reclaimed by the garbage collector."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=CLOSE_WAIT)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
