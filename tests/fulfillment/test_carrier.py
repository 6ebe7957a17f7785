"""The simulated carrier stores the requests that arrive together in one statement and still
answers each one: the same key in one flush is one booking that counts every request."""

from __future__ import annotations

import asyncio

import asyncpg

from fulfillment import CarrierConfig, Parcel, SimulatedCarrier


async def test_concurrent_bookings_one_per_key(pg_pool: asyncpg.Pool, unique: str) -> None:
    carrier = SimulatedCarrier(pg_pool, CarrierConfig(latency_ms=0, name=f"c-{unique}"))
    keys = [f"order:{unique}-{n % 7}" for n in range(20)]  # 7 keys, asked 2-3 times each

    def parcel(key: str) -> Parcel:
        return Parcel(key.removeprefix("order:"), {"address": "8 Nanjing Rd"}, [])

    got = await asyncio.gather(*(carrier.book(k, parcel(k)) for k in keys))
    by_key = {k: b.tracking_no for k, b in zip(keys, got, strict=True)}
    assert all(got[i].tracking_no == by_key[k] for i, k in enumerate(keys))
    assert len(set(by_key.values())) == 7
    again = await carrier.book(keys[0], parcel(keys[0]))
    assert again.tracking_no == by_key[keys[0]]
    rows = await pg_pool.fetch(
        "SELECT idempotency_key, requests FROM sim_carrier_bookings WHERE carrier = $1",
        f"c-{unique}",
    )
    counts = {r["idempotency_key"]: r["requests"] for r in rows}
    assert counts == {k: keys.count(k) + (k == keys[0]) for k in set(keys)}
