"""The writer's COPY step is public (the writer bench compares against a plain COPY with it):
one ``orders`` row per order folded from its events, one ``order_events`` row per event."""

from __future__ import annotations

import asyncpg

from checkout.pipeline.writer import copy_batch
from flashsale.core.settings import Settings
from tests.support.pipeline import paid, reserved


async def test_copy_batch_folds_orders_and_copies_events(settings: Settings, unique: str) -> None:
    round_id = f"copy-{unique}"
    first = [reserved(round_id, n) for n in range(1, 6)]
    events = first + [paid(e) for e in first[:2]]
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE o_copy (LIKE orders INCLUDING ALL) ON COMMIT DROP;"
                "CREATE TEMP TABLE e_copy (LIKE order_events INCLUDING ALL) ON COMMIT DROP"
            )
            await copy_batch(conn, events, orders_table="o_copy", events_table="e_copy")
            rows = await conn.fetch("SELECT id, status, seq, paid_at FROM o_copy ORDER BY id")
            assert await conn.fetchval("SELECT count(*) FROM e_copy") == len(events)
    finally:
        await conn.close()
    assert [r["id"] for r in rows] == sorted(e.order_id for e in first)
    by_id = {r["id"]: r for r in rows}
    for e in first[:2]:
        assert by_id[e.order_id]["status"] == "paid"
        assert by_id[e.order_id]["paid_at"] is not None
    for e in first[2:]:
        assert by_id[e.order_id]["status"] == "reserved"
        assert by_id[e.order_id]["paid_at"] is None
