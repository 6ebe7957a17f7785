"""Writer: batches to PostgreSQL applied by seq whatever the arrival order; duplicates no-ops;
offsets committed after the PostgreSQL commit."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg

from checkout.pipeline._apply import apply_batch
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from tests.support.pipeline import (
    eventually,
    expired,
    later,
    order_count,
    paid,
    produce,
    reserved,
    statuses,
)


async def test_out_of_order_ends_correct(pg_pool: asyncpg.Pool, unique: str) -> None:
    r = f"ooo-{unique}"
    a, b, c, d = (reserved(r, n) for n in range(1, 5))
    async with pg_pool.acquire() as conn:
        # a: paid arrives before reserved, in separate batches
        await apply_batch(conn, [paid(a)])
        row = await conn.fetchrow(
            "SELECT status, seq, reserved_at FROM orders WHERE id=$1", a.order_id
        )
        assert (row["status"], row["seq"], row["reserved_at"]) == ("paid", 2, None)
        await apply_batch(conn, [a])
        # b: expired (seq 3) after paid (seq 2) by seq, delivered newest first
        await apply_batch(conn, [expired(b, seq=3)])
        await apply_batch(conn, [paid(b), b])
        # c: reserved then expired within one batch, reversed
        await apply_batch(conn, [expired(c), c])
        # d: reserved only, then a stale duplicate
        await apply_batch(conn, [d])
        await apply_batch(conn, [d, d])
        rows = {x["id"]: x for x in await conn.fetch("SELECT * FROM orders WHERE round_id=$1", r)}
        events = await conn.fetchval("SELECT count(*) FROM order_events WHERE round_id=$1", r)
    assert {k: v["status"] for k, v in rows.items()} == {
        a.order_id: "paid",
        b.order_id: "expired",
        c.order_id: "expired",
        d.order_id: "reserved",
    }
    assert rows[a.order_id]["buyer_id"] == "buyer-1"
    assert rows[a.order_id]["paid_at"] is not None
    assert rows[a.order_id]["payment_id"] == f"pay-{a.order_id}"
    assert rows[b.order_id]["seq"] == 3
    assert rows[b.order_id]["paid_at"] is not None
    assert rows[d.order_id]["offer"] is not None
    assert rows[d.order_id]["pii"] is not None
    assert all(v["reserved_at"] is not None for v in rows.values())
    assert events == 1 + 1 + 3 + 2 + 1  # a: 2, b: 3, c: 2, d: 1


async def test_offer_snapshot_and_protected_id(pg_pool: asyncpg.Pool, unique: str) -> None:
    import orjson

    e = reserved(f"snap-{unique}", 7)
    async with pg_pool.acquire() as conn:
        await apply_batch(conn, [e])
        row = await conn.fetchrow("SELECT * FROM orders WHERE id=$1", e.order_id)
    assert orjson.loads(row["offer"]) == e.data["offer"]
    assert row["agreement_version"] == "2026-01"
    assert row["channel"] == "web"
    assert row["number"] == e.data["number"]
    assert row["id_hash"] == e.data["id_hash"]
    assert "national_id" not in orjson.loads(row["pii"])  # only masked/encrypted arrive


async def test_duplicated_and_shuffled_deliveries(
    settings: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    await ensure_topics(settings)
    r = f"dup-{unique}"
    base = [reserved(r, n) for n in range(1, 2001)]
    events = base + [paid(e) for e in base[::2]] + [expired(e) for e in base[1::2]]
    random.Random(5).shuffle(events)
    await produce(settings, events, times=2)  # every message delivered twice
    writers = [
        Writer(settings, pg_pool, WriterConfig(group=f"w-{unique}", max_records=700))
        for _ in range(2)
    ]
    started = time.perf_counter()
    tasks = [asyncio.create_task(w.run()) for w in writers]
    try:

        async def done() -> bool:
            n = await pg_pool.fetchval("SELECT count(*) FROM order_events WHERE round_id=$1", r)
            return n == len(events) and await order_count(pg_pool, r) == 2000

        await eventually(done, within=60)
        # let the writers drain their in-flight duplicates, then stop gracefully
        await asyncio.sleep(1)
    finally:
        for w in writers:
            w.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    got = await statuses(pg_pool, r)
    assert len(got) == 2000
    assert sum(s == "paid" for s in got.values()) == 1000
    assert sum(s == "expired" for s in got.values()) == 1000
    assert await pg_pool.fetchval("SELECT count(*) FROM order_events WHERE round_id=$1", r) == 4000
    # each writer that took a batch knows when it first did (the writer bench times from it)
    fetched = [w.stats.first_batch_at for w in writers if w.stats.messages]
    assert fetched
    assert all(started < at < time.perf_counter() for at in fetched)


async def test_refund_required_after_late_payment(pg_pool: asyncpg.Pool, unique: str) -> None:
    e = reserved(f"late-{unique}", 1)
    events = [
        e,
        expired(e),
        later(
            e,
            "order.refund_required",
            "refund_required",
            3,
            payment_id="p1",
            amount=2000,
            reason="sold_out",
        ),
    ]
    async with pg_pool.acquire() as conn:
        for batch in ([events[2]], [events[0]], [events[1]]):
            await apply_batch(conn, batch)
        assert (
            await conn.fetchval("SELECT status FROM orders WHERE id=$1", e.order_id)
            == "refund_required"
        )
