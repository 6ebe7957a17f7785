"""Writer benchmark: sustained orders/s from Kafka into PostgreSQL, as a ratio to a plain
asyncpg COPY of the same rows (orders + order_events) in the same run, and the lag from the
last reservation event published to the last order row written.

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
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from checkout.events import OrderEvent
from checkout.pipeline.writer import Writer, WriterConfig, copy_batch
from flashsale.core.db import migrate, quote_ident
from flashsale.core.kafka import BENCH, started_producer
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics, ensure_topics

T0 = 1_790_000_000_000


def reserved(round_id: str, n: int) -> OrderEvent:
    """An order.reserved event shaped like the reserve script's (masked/encrypted PII only)."""
    order_id = f"{round_id}-{n}"
    return OrderEvent(
        event_id=f"{order_id}:1", type="order.reserved", order_id=order_id, round_id=round_id,
        seq=1, status="reserved", at=T0 + n,
        data={
            "buyer_id": f"buyer-{n}", "id_hash": hashlib.sha256(b"%d" % n).hexdigest(),
            "quantity": 1, "number": None, "channel": "web", "agreement_version": "v3",
            "offer": {"name": "20-yuan 3G card", "price_fen": 2000,
                      "gifts": [{"kind": "data", "amount": "1 GB"}]},
            "pay_before": T0 + n + 900_000,
            "pii": {"real_name": "张伟", "address": "北京市朝阳区建国路 88 号",
                    "id_masked": "110105********002X", "id_encrypted": "v1.opaque"},
        },
    )  # fmt: skip


async def one_run(base: Settings, orders: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    db = f"flashsale_bench_{tag}"
    admin = await asyncpg.connect(base.database_url)
    await admin.execute("CREATE DATABASE " + quote_ident(db))
    await admin.close()
    s = dataclasses.replace(
        base,
        database_url=base.database_url.rsplit("/", 1)[0] + "/" + db,
        topic_prefix=f"flashsale-bench-{tag}",
    )
    try:
        conn = await asyncpg.connect(s.database_url)
        await migrate(conn)
        await conn.close()
        await ensure_topics(s)
        events = [reserved(f"bench-{tag}", n) for n in range(1, orders + 1)]
        pool = await asyncpg.create_pool(s.database_url, min_size=1, max_size=4)
        assert pool is not None
        try:
            writer = Writer(s, pool, WriterConfig(group=f"bench-{tag}"))
            task = asyncio.create_task(writer.run())
            producer = await started_producer(s, client_id=BENCH)
            try:
                sends = [
                    await producer.send(
                        Topics(s.topic_prefix).orders, e.to_json(), key=e.order_id.encode()
                    )
                    for e in events
                ]
                await asyncio.gather(*sends)
            finally:
                await producer.stop()
            published = time.perf_counter()
            first = 0.0
            while (n := await pool.fetchval("SELECT count(*) FROM orders")) < orders:
                if n and not first:
                    first = time.perf_counter()
                await asyncio.sleep(0.01)
            done = time.perf_counter()
            writer.stop()
            await task
            first = first or done
            copy_s = await _copy(pool, events)
        finally:
            await pool.close()
        steady = orders / max(done - first, 1e-6)
        return {
            "writer_orders_per_s": steady,
            "copy_orders_per_s": orders / copy_s,
            "ratio": steady / (orders / copy_s),
            "lag_s": done - published,
        }
    finally:
        client = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
        await client.start()
        try:
            await client.delete_topics(Topics(s.topic_prefix).all())
        finally:
            await client.close()
        admin = await asyncpg.connect(base.database_url)
        await admin.execute("DROP DATABASE IF EXISTS " + quote_ident(db) + " WITH (FORCE)")
        await admin.close()


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
            f"{r['copy_orders_per_s']:.0f}/s (ratio {r['ratio']:.2f}), lag {r['lag_s']:.2f} s"
        )
        runs.append(r)
    return {
        "orders": orders,
        "repetitions": repetitions,
        **{f"{k}_median": round(statistics.median(r[k] for r in runs), 3) for k in runs[0]},
        "runs": runs,
    }
