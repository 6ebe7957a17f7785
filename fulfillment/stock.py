"""Physical stock in PostgreSQL: blank SIM cards, handsets per variant (with their models' type
allocation codes) and spare phone numbers; :func:`seed_stock` generates valid test/demo stock."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from fulfillment.identifiers import make_iccid, make_imei, make_number, make_tac


@dataclass
class Seeded:
    sim_cards: int = 0
    handsets: dict[str, int] = field(default_factory=dict)
    numbers: int = 0
    tacs: dict[str, str] = field(default_factory=dict)


async def register_model(conn: asyncpg.Connection | asyncpg.Pool, sku: str, tac: str) -> None:
    await conn.execute(
        "INSERT INTO handset_models (sku, tac) VALUES ($1, $2) ON CONFLICT DO NOTHING", sku, tac
    )


async def model_tac(conn: asyncpg.Connection, sku: str, rng: random.Random) -> str:
    """The SKU's type allocation code, registering a new one when it has none."""
    tac = await conn.fetchval(
        "SELECT tac FROM handset_models WHERE sku = $1 ORDER BY tac LIMIT 1", sku
    )
    if tac is None:
        tac = make_tac(rng)
        await register_model(conn, sku, tac)
    return str(tac)


async def seed_stock(
    pool: asyncpg.Pool,
    *,
    sim_cards: int = 0,
    handsets: Mapping[str, int] | None = None,
    numbers: int = 0,
    number_prefix: str = "170",
    seed: int | None = None,
) -> Seeded:
    """Add generated stock (Luhn-valid ICCIDs and IMEIs, spare numbers); collisions with
    existing rows are skipped, so the counts are what was actually added."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    out = Seeded()
    async with pool.acquire() as conn, conn.transaction():
        if sim_cards:
            iccids = [make_iccid(rng, rng.choice((19, 20))) for _ in range(sim_cards)]
            out.sim_cards = await _insert(
                conn,
                "INSERT INTO sim_cards (iccid) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                iccids,
            )
        for sku, n in (handsets or {}).items():
            tac = await model_tac(conn, sku, rng)
            out.tacs[sku] = tac
            out.handsets[sku] = await _insert(
                conn,
                "INSERT INTO handsets (imei, sku) SELECT unnest($1::text[]), $2 "
                "ON CONFLICT DO NOTHING",
                [make_imei(rng, tac) for _ in range(n)],
                sku,
            )
        if numbers:
            out.numbers = await _insert(
                conn,
                "INSERT INTO phone_numbers (number, assignable) SELECT unnest($1::text[]), true "
                "ON CONFLICT DO NOTHING",
                [make_number(rng, number_prefix) for _ in range(numbers)],
            )
    return out


async def _insert(conn: asyncpg.Connection, sql: str, values: Sequence[str], *args: str) -> int:
    """One statement for all the rows; returns how many were inserted (not already there)."""
    status = await conn.execute(sql, list(values), *args)
    return int(status.rsplit(" ", 1)[-1])


async def stock_levels(pool: asyncpg.Pool) -> dict[str, object]:
    sims = await pool.fetchval(
        "SELECT count(*) FROM sim_cards WHERE order_id IS NULL AND defect IS NULL"
    )
    numbers = await pool.fetchval(
        "SELECT count(*) FROM phone_numbers WHERE assignable AND order_id IS NULL"
    )
    handsets = {
        r["sku"]: r["n"]
        for r in await pool.fetch(
            "SELECT sku, count(*) AS n FROM handsets WHERE order_id IS NULL AND defect IS NULL "
            "GROUP BY sku ORDER BY sku"
        )
    }
    return {"sim_cards": sims, "spare_numbers": numbers, "handsets": handsets}
