"""Writer benchmark: sustained orders/s from Kafka into PostgreSQL, as a ratio to a plain
asyncpg COPY of the same rows (orders + order_events) in the same run, and the lag from the
last reservation event published to the last order row written; then the relay's events/s
against a bare producer on the same payloads (:mod:`loadtests.bench_relay`).

Each repetition uses a fresh database and topic prefix (dropped afterwards): N order.reserved
events are published like the relay does, a writer consumes them, then the same rows are
COPYed into empty copies of the two tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from checkout.events import OrderEvent
from checkout.offer import Gift, OfferSnapshot
from checkout.pipeline.writer import Writer, WriterConfig, copy_batch
from flashsale.core.db import migrate, quote_ident
from flashsale.core.kafka import BENCH, started_producer
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics, ensure_topics
from loadtests.bench_relay import producer_rate, relay_rate

T0 = 1_790_000_000_000


SNAPSHOT = OfferSnapshot(
    offer_id="1", offer_name="20-yuan 3G card", product_id="1", product_name="3G SIM",
    product_kind="sim_card", price_fen=2000, currency="CNY", monthly_fee_fen=0, data_mb=1024,
    voice_minutes=100, agreement_version="v3",
    gifts=(Gift((("kind", "data"), ("amount", "1 GB"))),),
).to_dict()  # fmt: skip


def reserved(round_id: str, n: int) -> OrderEvent:
    """An order.reserved event shaped like the reserve script's (masked/encrypted PII only)."""
    order_id = f"{round_id}-{n}"
    return OrderEvent(
        event_id=f"{order_id}:1", type="order.reserved", order_id=order_id, round_id=round_id,
        seq=1, status="reserved", at=T0 + n,
        data={
            "buyer_id": f"buyer-{n}", "id_hash": hashlib.sha256(b"%d" % n).hexdigest(),
            "quantity": 1, "number": None, "channel": "web", "agreement_version": "v3",
            "offer": SNAPSHOT, "pay_before": T0 + n + 900_000,
            "price_fen": 2000, "number_surcharge": None, "total_fen": 2000,
            "pii": {"real_name": "张伟", "address": "北京市朝阳区建国路 88 号",
                    "id_masked": "110105********002X", "id_encrypted": "v1.opaque"},
        },
    )  # fmt: skip


def paid(round_id: str, n: int) -> OrderEvent:
    """The order.paid event that follows :func:`reserved`."""
    order_id = f"{round_id}-{n}"
    return OrderEvent(
        event_id=f"{order_id}:2", type="order.paid", order_id=order_id, round_id=round_id,
        seq=2, status="paid", at=T0 + n + 1000,
        data={"payment_id": f"pay-{order_id}", "amount": 2000, "late": False},
    )  # fmt: skip


async def _create(base: Settings) -> Settings:
    """A fresh database (migrated) and topic prefix (topics created)."""
    tag = uuid.uuid4().hex[:8]
    db = f"flashsale_bench_{tag}"
    admin = await asyncpg.connect(base.database_url)
    try:
        await admin.execute("CREATE DATABASE " + quote_ident(db))
    finally:
        await admin.close()
    s = dataclasses.replace(
        base,
        database_url=base.database_url.rsplit("/", 1)[0] + "/" + db,
        topic_prefix=f"flashsale-bench-{tag}",
    )
    conn = await asyncpg.connect(s.database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    await ensure_topics(s)
    return s


async def _drop(base: Settings, s: Settings) -> None:
    client = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await client.start()
    try:
        await client.delete_topics(Topics(s.topic_prefix).all())
    finally:
        await client.close()
    db = s.database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(base.database_url)
    try:
        for attempt in range(5):  # an autovacuum worker on it cannot be terminated by us
            try:
                await admin.execute("DROP DATABASE IF EXISTS " + quote_ident(db) + " WITH (FORCE)")
                return
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                await asyncio.sleep(1 + attempt)
        print(f"bench database {db} left behind (in use); drop it by hand")
    finally:
        await admin.close()


@asynccontextmanager
async def scratch(
    base: Settings, pool_size: int = 4
) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    """A fresh database (migrated) and topic prefix (topics created), dropped afterwards."""
    s = await _create(base)
    try:
        pool = await asyncpg.create_pool(s.database_url, min_size=1, max_size=pool_size)
        assert pool is not None
        try:
            yield s, pool
        finally:
            await pool.close()
    finally:
        await _drop(base, s)


@contextmanager
def scratch_settings(base: Settings) -> Iterator[Settings]:
    """:func:`scratch` for code that runs its own event loops (the e2e sale)."""
    s = asyncio.run(_create(base))
    try:
        yield s
    finally:
        asyncio.run(_drop(base, s))


async def publish(s: Settings, events: list[OrderEvent]) -> None:
    """Send the events to the orders topic as the relay does (key = order id)."""
    producer = await started_producer(s, client_id=BENCH)
    try:
        topic = Topics(s.topic_prefix).orders
        sends = [await producer.send(topic, e.to_json(), key=e.order_id.encode()) for e in events]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def until(pool: asyncpg.Pool, n: int, sql: str, *args: Any) -> tuple[float, float]:
    """Poll ``sql`` (two counts: rows the process has written at all, rows it has finished)
    until the second reaches ``n``; the perf_counter of its first write and of its last.

    The first write is dated by the last poll that still saw nothing written (it happened
    after that poll, so the span is never shorter than the work: a backlog written in one
    batch, seen complete at the first poll that sees anything, is not an instant)."""
    first = 0.0
    quiet = time.perf_counter()  # the last moment nothing was written yet
    while True:
        polled = time.perf_counter()
        started, finished = await pool.fetchrow(sql, *args)
        if not started:
            quiet = polled
        elif not first:
            first = quiet
        if finished >= n:
            return first or quiet, time.perf_counter()
        await asyncio.sleep(0.01)


async def writer_rate(
    s: Settings, pool: asyncpg.Pool, orders: int, group: str, status: str = "reserved"
) -> float:
    """Orders/s of a writer draining the backlog on the orders topic, from its first fetch to
    the moment ``orders`` rows have reached ``status``."""
    writer = Writer(s, pool, WriterConfig(group=group))
    task = asyncio.create_task(writer.run())
    try:
        _first, done = await until(pool, orders, _WRITTEN, status)
    finally:
        writer.stop()
        await task
    return orders / max(done - writer.stats.first_batch_at, 1e-6)


_WRITTEN = "SELECT count(*), count(*) FILTER (WHERE status = $1) FROM orders"


async def one_run(base: Settings, orders: int) -> dict[str, float]:
    async with scratch(base) as (s, pool):
        events = [reserved(f"bench-{s.topic_prefix}", n) for n in range(1, orders + 1)]
        writer = Writer(s, pool, WriterConfig(group=f"bench-{s.topic_prefix}"))
        task = asyncio.create_task(writer.run())
        try:
            await publish(s, events)
            published = time.perf_counter()
            _first, done = await until(pool, orders, _WRITTEN, "reserved")
        finally:
            writer.stop()
            await task
        first = writer.stats.first_batch_at  # the backlog's first fetch: its first row is
        # only seen once the first batch is committed
        copy_s = await _copy(pool, events)
        relay = await relay_rate(s, f"bench-relay-{s.topic_prefix}", events)
        bare = await producer_rate(s, events)
    steady = orders / max(done - first, 1e-6)
    return {
        "writer_orders_per_s": steady,
        "copy_orders_per_s": orders / copy_s,
        "ratio": steady / (orders / copy_s),
        "lag_s": done - published,
        "relay_events_per_s": relay,
        "producer_events_per_s": bare,
        "relay_ratio": relay / bare,
    }


async def _copy(pool: asyncpg.Pool, events: list[OrderEvent]) -> float:
    """Seconds for a plain COPY of the same order and event rows into empty tables."""
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE orders_copy (LIKE orders INCLUDING ALL);"
            "CREATE TABLE events_copy (LIKE order_events INCLUDING ALL)"
        )
        began = time.perf_counter()
        await copy_batch(conn, events, orders_table="orders_copy", events_table="events_copy")
        return time.perf_counter() - began


def run(settings: Settings, orders: int, repetitions: int, say: Any = print) -> dict[str, Any]:
    runs = []
    for i in range(repetitions):
        r = asyncio.run(one_run(settings, orders))
        say(
            f"run {i + 1}: writer {r['writer_orders_per_s']:.0f} orders/s, plain COPY "
            f"{r['copy_orders_per_s']:.0f}/s (ratio {r['ratio']:.2f}), lag {r['lag_s']:.2f} s; "
            f"relay {r['relay_events_per_s']:.0f} events/s, bare producer "
            f"{r['producer_events_per_s']:.0f}/s (ratio {r['relay_ratio']:.2f})"
        )
        runs.append(r)
    return {
        "orders": orders,
        "repetitions": repetitions,
        **{f"{k}_median": round(statistics.median(r[k] for r in runs), 3) for k in runs[0]},
        "runs": runs,
    }
