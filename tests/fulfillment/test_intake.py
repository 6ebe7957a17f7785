"""Intake folds a batch per order before its one statement per kind: duplicates, several
events of one order and any arrival order in one batch give the rows that event-by-event
intake in seq order gives."""

from __future__ import annotations

import dataclasses
import random

import asyncpg

from fulfillment._intake import intake
from tests.support.fulfillment import order
from tests.support.offer import sim_offer

_COLUMNS = "order_id, offer, quantity, number, paid_seq, paid_at, void_seq, void_reason"


async def _rows(pool: asyncpg.Pool, round_id: str) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM fulfillment_orders WHERE round_id = $1 ORDER BY order_id",  # noqa: S608 - constant columns
        round_id,
    )
    return [(r["order_id"].rsplit("-", 1)[1], *tuple(r.values())[2:]) for r in rows]


async def test_one_batch_equals_event_by_event(pg_pool: asyncpg.Pool, unique: str) -> None:
    def events(round_id: str) -> list:  # type: ignore[type-arg]
        out = []
        for n in range(1, 21):
            evs = order(round_id, n, sim_offer(), number=None, quantity=1 + n % 2)
            if n % 4 == 0:  # paid again (a later seq), then expired above both
                again = dataclasses.replace(evs[1], event_id=f"{evs[1].event_id}b", seq=3,
                                            at=evs[1].at + 5000)  # fmt: skip
                void = dataclasses.replace(evs[1], event_id=f"{evs[1].event_id}v", seq=4,
                                           type="order.expired", status="expired")  # fmt: skip
                evs += [again, void]
            out += evs * 2  # every event twice
        random.Random(5).shuffle(out)
        return out

    batch, single = f"ib-{unique}", f"is-{unique}"
    try:
        async with pg_pool.acquire() as conn:
            assert await intake(conn, events(batch)) > 0
            for e in sorted(events(single), key=lambda e: (e.order_id, e.seq)):
                await intake(conn, [e])  # one at a time, in seq order
        got, want = await _rows(pg_pool, batch), await _rows(pg_pool, single)
    finally:  # paid orders no worker should ship (later tests' workers share the database)
        await pg_pool.execute(
            "DELETE FROM fulfillment_orders WHERE round_id = ANY($1::text[])", [batch, single]
        )
    assert len(got) == 20
    assert got == want
    fourth = next(g for g in got if g[0] == "4")
    assert fourth[3] == 3  # the highest paid seq (its time the first payment's)
    assert fourth[5:] == (4, "expired")
