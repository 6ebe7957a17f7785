"""Phone-number pools: a file of mainland mobile numbers, loaded all or nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from catalog.errors import CatalogConflict, CatalogNotFound, InvalidInput, InvalidNumbersFile
from catalog.money import parse_yuan, yuan
from flashsale.core.audit import Operator, audit

# ASCII only and whole-string matches (the CHECKs in PostgreSQL agree): ``\d`` would take
# full-width or Arabic-Indic digits and ``$`` a trailing newline.
_NUMBER = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_POOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
# What people type between digits (``186 0100 9101``, ``186-0100-9102``), and the country code
# in front (``+86``, ``0086``), dropped before the number is checked.
_SEPARATORS = re.compile(r"[ \t-]+")
_COUNTRY = re.compile(r"^(?:\+86|0086)(?=1)", re.ASCII)
MAX_REASONS = 5


def normalise_number(text: str) -> str:
    """``+86 186 0100 9101`` → ``18601009101``: spaces and dashes go, then a leading +86/0086."""
    return _COUNTRY.sub("", _SEPARATORS.sub("", text.strip()), count=1)


@dataclass(frozen=True)
class PoolNumber:
    number: str
    surcharge_fen: int = 0


def parse_numbers_file(text: str) -> list[PoolNumber]:
    """One 11-digit number per line (spaces, dashes and a leading +86 allowed), optional
    ``,surcharge`` in yuan; a byte-order mark (Excel's UTF-8 export), blank lines and ``#``
    comments skipped. Any malformed or duplicate line refuses the whole file."""
    found: list[PoolNumber] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for lineno, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        typed, _, surcharge = (part.strip() for part in line.partition(","))
        number = normalise_number(typed)
        if not _NUMBER.fullmatch(number):
            problems.append(
                f"line {lineno}: {ascii(number)[:40]} is not an 11-digit mainland mobile number"
            )
            continue
        if number in seen:
            problems.append(f"line {lineno}: {number} duplicates line {seen[number]}")
            continue
        seen[number] = lineno
        fen = 0
        if surcharge:
            try:
                fen = parse_yuan(surcharge, "surcharge")
            except InvalidInput as exc:
                problems.append(f"line {lineno}: {exc.message}")
                continue
        found.append(PoolNumber(number, fen))
    if problems:
        more = f" (+{len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
        reasons = "; ".join(problems[:MAX_REASONS]) + more
        raise InvalidNumbersFile(f"numbers file refused: {reasons}", problems=problems)
    if not found:
        raise InvalidNumbersFile("numbers file refused: no numbers in it", problems=[])
    return found


async def load_pool(
    conn: asyncpg.Connection, operator: Operator, pool: str, numbers: list[PoolNumber]
) -> dict[str, object]:
    """Create the pool if needed and add ``numbers``; a number already in any pool refuses all."""
    if not isinstance(pool, str) or not _POOL.fullmatch(pool):
        shown = ascii(pool)[:80]  # never echo control characters to the terminal
        raise InvalidInput(f"bad pool name {shown} (letters, digits, _ . -; up to 64)", pool=shown)
    async with conn.transaction():
        pool_id = await conn.fetchval(
            "INSERT INTO number_pools (name) VALUES ($1) ON CONFLICT (name) DO UPDATE "
            "SET name = EXCLUDED.name RETURNING id",
            pool,
        )
        taken = await conn.fetch(
            "SELECT p.number, n.name, count(*) OVER () AS total FROM pool_numbers p "
            "JOIN number_pools n ON n.id = p.pool_id "
            "WHERE p.number = ANY($1::text[]) ORDER BY p.number LIMIT 5",
            [n.number for n in numbers],
        )
        if taken:
            listed = ", ".join(f"{r['number']} (pool {r['name']})" for r in taken)
            total = taken[0]["total"]
            more = f" and {total - len(taken)} more" if total > len(taken) else ""
            raise InvalidNumbersFile(
                f"numbers file refused: {total} of its {len(numbers)} numbers are already "
                f"loaded: {listed}{more}",
                problems=[r["number"] for r in taken],
                already_loaded=total,
            )
        try:
            await conn.copy_records_to_table(
                "pool_numbers",
                records=[(n.number, pool_id, n.surcharge_fen) for n in numbers],
                columns=["number", "pool_id", "surcharge_fen"],
            )
        except asyncpg.UniqueViolationError:
            raise CatalogConflict(
                "numbers file refused: a number was loaded concurrently; retry", pool=pool
            ) from None
        total = await conn.fetchval("SELECT count(*) FROM pool_numbers WHERE pool_id = $1", pool_id)
        await audit(
            conn,
            operator,
            "numbers.load",
            f"pool:{pool}",
            {"added": len(numbers), "lucky": sum(1 for n in numbers if n.surcharge_fen)},
        )
    return {
        "pool": pool,
        "pool_id": pool_id,
        "added": len(numbers),
        "total": total,
        "lucky": sum(1 for n in numbers if n.surcharge_fen),
    }


async def pool_numbers(conn: asyncpg.Connection, pool_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT number, surcharge_fen FROM pool_numbers WHERE pool_id = $1 ORDER BY number", pool_id
    )


_POOLS = """
SELECT n.name AS pool, n.created_at,
       count(p.number) AS numbers,
       count(p.number) FILTER (WHERE p.surcharge_fen > 0) AS lucky,
       (SELECT coalesce(array_agg(r.id ORDER BY r.starts_at), '{}') FROM rounds r
         WHERE r.number_pool_id = n.id) AS rounds
FROM number_pools n LEFT JOIN pool_numbers p ON p.pool_id = n.id
"""


async def list_pools(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every number pool: its size, lucky numbers and the rounds selling from it."""
    rows = await conn.fetch(_POOLS + " GROUP BY n.id ORDER BY n.name")
    return [dict(r) for r in rows]


async def show_pool(conn: asyncpg.Connection, pool: str, limit: int = 100) -> dict[str, Any]:
    """One pool's figures and its first ``limit`` numbers (surcharges in yuan)."""
    row = await conn.fetchrow(_POOLS + " WHERE n.name = $1 GROUP BY n.id", pool)
    if row is None:
        raise CatalogNotFound(f"unknown number pool {ascii(pool)[:80]}", pool=ascii(pool)[:80])
    numbers = await conn.fetch(
        "SELECT p.number, p.surcharge_fen FROM pool_numbers p JOIN number_pools n "
        "ON n.id = p.pool_id WHERE n.name = $1 ORDER BY p.number LIMIT $2",
        pool,
        limit,
    )
    return dict(row) | {
        "shown": [{"number": r["number"], "surcharge": yuan(r["surcharge_fen"])} for r in numbers]
    }


async def pool_size(conn: asyncpg.Connection, pool: str) -> int:
    """How many numbers pool ``pool`` has (0 for an unknown pool)."""
    size: int = await conn.fetchval(
        "SELECT count(*) FROM pool_numbers p JOIN number_pools n ON n.id = p.pool_id "
        "WHERE n.name = $1",
        pool,
    )
    return size
