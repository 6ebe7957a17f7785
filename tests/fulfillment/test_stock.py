"""Seeding stock in one statement per kind: the counts are what was added (the same seed again
adds nothing), every identifier valid, and the levels follow."""

from __future__ import annotations

import asyncpg

from fulfillment import seed_stock, stock_levels
from fulfillment.identifiers import iccid_valid, imei_valid


async def test_seed_counts_what_was_added(pg_pool: asyncpg.Pool, unique: str) -> None:
    sku = f"st-{unique}"
    before = await stock_levels(pg_pool)
    got = await seed_stock(pg_pool, sim_cards=50, handsets={sku: 20}, numbers=30, seed=99)
    assert (got.sim_cards, got.handsets, got.numbers) == (50, {sku: 20}, 30)
    again = await seed_stock(pg_pool, sim_cards=50, seed=99)  # the same ICCIDs again
    assert again.sim_cards == 0
    after = await stock_levels(pg_pool)
    assert after["sim_cards"] == before["sim_cards"] + 50  # type: ignore[operator]
    assert after["spare_numbers"] == before["spare_numbers"] + 30  # type: ignore[operator]
    assert after["handsets"][sku] == 20  # type: ignore[index]
    imeis = await pg_pool.fetch("SELECT imei FROM handsets WHERE sku = $1", sku)
    assert all(imei_valid(r["imei"]) and r["imei"][:8] == got.tacs[sku] for r in imeis)
    iccids = await pg_pool.fetch("SELECT iccid FROM sim_cards ORDER BY iccid DESC LIMIT 50")
    assert all(iccid_valid(r["iccid"]) for r in iccids)
