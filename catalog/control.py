"""Changing a round: arm, pause, resume, extend, restock, close.

PostgreSQL is changed in one transaction with its audit row, holding the round's row lock; an
armed round's Redis state is changed inside that transaction, so a Redis failure rolls the
change back. Every operation is safe to repeat: a repeat changes nothing and reports so.
Restocks are recorded first (with an id) and then applied to Redis, which dedupes on the id;
arming re-applies every recorded restock, so one that failed half-way is finished later.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from redis.exceptions import RedisError

from catalog.errors import InvalidInput, InvalidTransition, RoundOverlap, RoundStateUnavailable
from catalog.numbers import pool_size
from catalog.rounds import build_spec, get_round, overlapping
from flashsale.core.audit import Operator, audit
from inventory.errors import InventoryError
from inventory.spec import RoundSpec, RoundStats

ARMER = Operator(actor="armer")


class InventoryPort(Protocol):
    """What the catalog needs from ``inventory.Inventory``."""

    async def arm(self, spec: RoundSpec) -> bool: ...
    async def set_status(self, round_id: str, status: str) -> Any: ...
    async def extend(self, round_id: str, ends_at: datetime) -> Any: ...
    async def restock(self, round_id: str, units: int, restock_id: str) -> int: ...
    async def load_numbers(
        self, round_id: str, numbers: Sequence[str], surcharges: Mapping[str, int] | None = None
    ) -> int: ...
    async def stats(self, round_id: str) -> RoundStats: ...


@dataclass(frozen=True)
class Outcome:
    round: dict[str, Any]
    changed: bool
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"round": self.round, "changed": self.changed, **self.detail}


async def _redis(coro: Any) -> Any:
    try:
        return await coro
    except InventoryError as exc:
        raise RoundStateUnavailable(
            f"Redis refused the change: {exc.message}", inventory_code=exc.code
        ) from exc
    except (RedisError, OSError) as exc:
        raise RoundStateUnavailable(f"Redis unavailable: {exc}") from exc


async def arm(
    conn: asyncpg.Connection, inv: InventoryPort, round_id: str, operator: Operator = ARMER
) -> Outcome:
    """Load the round into Redis (a no-op if it is there), its numbers and every restock."""
    async with conn.transaction():
        rnd = await get_round(conn, round_id, for_update=True)
        if rnd["status"] == "closed":
            raise InvalidTransition(f"round {round_id} is closed", round_id=round_id)
        spec = await build_spec(conn, rnd)
        armed_now = bool(await _redis(inv.arm(spec)))
        if not armed_now and rnd["status"] == "paused":
            await _redis(inv.set_status(round_id, rnd["status"]))
        numbers = 0
        if rnd["number_pool"] is not None and rnd["number_choice"]:
            rows = await conn.fetch(
                "SELECT p.number, p.surcharge_fen FROM pool_numbers p JOIN number_pools n "
                "ON n.id = p.pool_id WHERE n.name = $1 ORDER BY p.number",
                rnd["number_pool"],
            )
            fees = {r["number"]: r["surcharge_fen"] for r in rows if r["surcharge_fen"]}
            numbers = int(
                await _redis(inv.load_numbers(round_id, [r["number"] for r in rows], fees))
            )
        restocks = await conn.fetch(
            "SELECT id, units FROM round_restocks WHERE round_id = $1 ORDER BY created_at", round_id
        )
        for restock in restocks:
            await _redis(inv.restock(round_id, restock["units"], restock["id"]))
        await conn.execute(
            "UPDATE round_restocks SET applied_at = now() WHERE round_id = $1 "
            "AND applied_at IS NULL",
            round_id,
        )
        if rnd["armed_at"] is None:
            await conn.execute(
                "UPDATE rounds SET armed_at = now(), updated_at = now() WHERE id = $1", round_id
            )
            await audit(
                conn,
                operator,
                "round.arm",
                f"round:{round_id}",
                {"stock": rnd["stock"], "restocks": len(restocks), "numbers": numbers},
            )
        return Outcome(
            await get_round(conn, round_id),
            rnd["armed_at"] is None,
            {"armed_now": armed_now, "numbers_loaded": numbers},
        )


async def _set_status(
    conn: asyncpg.Connection,
    inv: InventoryPort,
    operator: Operator,
    round_id: str,
    action: str,
    allowed: Sequence[str],
    target: str | None = None,
) -> Outcome:
    async with conn.transaction():
        rnd = await get_round(conn, round_id, for_update=True)
        status = rnd["status"]
        if target is None:  # resume: live once the window has opened
            target = "live" if rnd["starts_at"] <= datetime.now(UTC) else "scheduled"
        noop = status == target or (action == "resume" and status in ("scheduled", "live"))
        if not noop and status not in allowed:
            raise InvalidTransition(
                f"cannot {action} round {round_id}: it is {status}",
                round_id=round_id,
                status=status,
            )
        if not noop:
            await conn.execute(
                "UPDATE rounds SET status = $2, updated_at = now() WHERE id = $1", round_id, target
            )
            await audit(
                conn,
                operator,
                f"round.{action}",
                f"round:{round_id}",
                {"from": status, "to": target},
            )
        if rnd["armed_at"] is not None:
            await _redis(inv.set_status(round_id, status if noop else target))
        return Outcome(await get_round(conn, round_id), not noop, {})


async def pause(
    conn: asyncpg.Connection, inv: InventoryPort, operator: Operator, round_id: str
) -> Outcome:
    return await _set_status(
        conn, inv, operator, round_id, "pause", ("scheduled", "live"), "paused"
    )


async def resume(
    conn: asyncpg.Connection, inv: InventoryPort, operator: Operator, round_id: str
) -> Outcome:
    return await _set_status(conn, inv, operator, round_id, "resume", ("paused",))


async def go_live(
    conn: asyncpg.Connection, inv: InventoryPort, operator: Operator, round_id: str
) -> Outcome:
    """A scheduled round whose window opened becomes live (the armer does this)."""
    return await _set_status(conn, inv, operator, round_id, "open", ("scheduled",), "live")


async def close(
    conn: asyncpg.Connection, inv: InventoryPort, operator: Operator, round_id: str
) -> Outcome:
    return await _set_status(
        conn,
        inv,
        operator,
        round_id,
        "close",
        ("scheduled", "live", "paused", "sold_out"),
        "closed",
    )


async def extend(
    conn: asyncpg.Connection,
    inv: InventoryPort,
    operator: Operator,
    round_id: str,
    ends_at: datetime,
) -> Outcome:
    """Move the end later; the same end again is a no-op, an earlier one is refused."""
    async with conn.transaction():
        rnd = await get_round(conn, round_id, for_update=True)
        if rnd["status"] == "closed":
            raise InvalidTransition(f"cannot extend round {round_id}: it is closed")
        if ends_at < rnd["ends_at"]:
            raise InvalidInput(
                f"extend only moves the end later (now {rnd['ends_at']})", round_id=round_id
            )
        changed = ends_at != rnd["ends_at"]
        if changed:
            try:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE rounds SET ends_at = $2, updated_at = now() WHERE id = $1",
                        round_id,
                        ends_at,
                    )
            except asyncpg.ExclusionViolationError:
                other = await overlapping(
                    conn, rnd["offer_id"], rnd["starts_at"], ends_at, exclude=round_id
                )
                raise RoundOverlap(
                    f"extending to {ends_at} overlaps round {other} of offer {rnd['offer_id']}",
                    round_id=other,
                ) from None
            await audit(
                conn,
                operator,
                "round.extend",
                f"round:{round_id}",
                {"from": rnd["ends_at"], "to": ends_at},
            )
        if rnd["armed_at"] is not None:
            await _redis(inv.extend(round_id, ends_at))
        return Outcome(await get_round(conn, round_id), changed, {})


def new_restock_id() -> str:
    return "rs-" + secrets.token_hex(6)


async def _within_pool(conn: asyncpg.Connection, rnd: dict[str, Any], units: int) -> None:
    """A number-choice round never offers more units than its pool has numbers (each unit is
    one number): the same rule as at creation."""
    size = await pool_size(conn, rnd["number_pool"])
    if rnd["stocked"] + units > size:
        raise InvalidInput(
            f"restock of {units} would make {rnd['stocked'] + units} units, more than the "
            f"{size} numbers in pool {rnd['number_pool']} (load more numbers first: "
            f"`flashsale numbers load {rnd['number_pool']} FILE`)",
            pool=rnd["number_pool"],
            room=max(size - rnd["stocked"], 0),
        )


async def restock(
    conn: asyncpg.Connection,
    inv: InventoryPort,
    operator: Operator,
    round_id: str,
    units: int,
    restock_id: str | None = None,
) -> Outcome:
    """Record the restock (idempotent on ``restock_id``), then add the units in Redis atomically."""
    if units <= 0:
        raise InvalidInput(f"restock units must be positive, got {units}")
    restock_id = restock_id or new_restock_id()
    if not 0 < len(restock_id) <= 64:
        raise InvalidInput("restock id must be 1 to 64 characters")
    async with conn.transaction():
        rnd = await get_round(conn, round_id, for_update=True)
        if rnd["status"] == "closed":
            raise InvalidTransition(f"cannot restock round {round_id}: it is closed")
        existing = await conn.fetchrow(
            "SELECT round_id, units FROM round_restocks WHERE id = $1", restock_id
        )
        if existing is not None and (existing["round_id"], existing["units"]) != (round_id, units):
            raise InvalidInput(
                f"restock id {restock_id} was used for {existing['units']} units "
                f"of round {existing['round_id']}",
                restock_id=restock_id,
            )
        changed = existing is None
        if changed and rnd["number_choice"] and rnd["number_pool"] is not None:
            await _within_pool(conn, rnd, units)
        if changed:
            await conn.execute(
                "INSERT INTO round_restocks (id, round_id, units) VALUES ($1, $2, $3)",
                restock_id,
                round_id,
                units,
            )
            if rnd["status"] == "sold_out":
                try:
                    async with conn.transaction():
                        await conn.execute(
                            "UPDATE rounds SET status = 'live', sold_out_at = NULL, "
                            "updated_at = now() WHERE id = $1",
                            round_id,
                        )
                except asyncpg.ExclusionViolationError:
                    raise RoundOverlap(
                        f"reopening sold-out round {round_id} would overlap "
                        "another open round of its offer"
                    ) from None
            await audit(
                conn,
                operator,
                "round.restock",
                f"round:{round_id}",
                {"units": units, "restock_id": restock_id},
            )
    left = None
    if rnd["armed_at"] is not None:
        left = int(await _redis(inv.restock(round_id, units, restock_id)))
        if rnd["status"] == "sold_out":
            await _redis(inv.set_status(round_id, "live"))
        await conn.execute(
            "UPDATE round_restocks SET applied_at = now() WHERE id = $1 AND applied_at IS NULL",
            restock_id,
        )
    return Outcome(
        await get_round(conn, round_id),
        changed,
        {"restock_id": restock_id, "units": units, "left": left},
    )


async def push_numbers(
    conn: asyncpg.Connection, inv: InventoryPort, pool: str, numbers: Sequence[tuple[str, int]]
) -> list[str]:
    """Add newly loaded ``(number, surcharge_fen)`` to the armed round choosing from ``pool``."""
    rounds = [
        r["id"]
        for r in await conn.fetch(
            "SELECT r.id FROM rounds r JOIN number_pools n ON n.id = r.number_pool_id "
            "WHERE n.name = $1 AND r.number_choice AND r.armed_at IS NOT NULL "
            "AND r.status <> 'closed'",
            pool,
        )
    ]
    fees = {number: fen for number, fen in numbers if fen}
    for round_id in rounds:
        await _redis(inv.load_numbers(round_id, [n for n, _ in numbers], fees))
    return rounds


async def mark_sold_out(
    conn: asyncpg.Connection, inv: InventoryPort, round_id: str, at: datetime
) -> bool:
    """Every unit of a live round is paid: record it (PostgreSQL and Redis). True if now."""
    async with conn.transaction():
        changed = await conn.fetchval(
            "UPDATE rounds SET status = 'sold_out', sold_out_at = $2, updated_at = now() "
            "WHERE id = $1 AND status = 'live' RETURNING id",
            round_id,
            at,
        )
        if changed is None:
            return False
        await audit(conn, ARMER, "round.sold_out", f"round:{round_id}", {"at": at})
        await _redis(inv.set_status(round_id, "sold_out"))
        return True
