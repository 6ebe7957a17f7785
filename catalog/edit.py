"""Fixing a mistake in a round that has not started: its start, end, stock and limits.

Only a round still ``scheduled`` and not yet armed into Redis can be edited (once armed,
shoppers' clients may already hold its terms; pause, extend and restock change a running round).
The same checks as at creation apply; the change is audited with the values before and after.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from catalog.errors import InvalidInput, InvalidTransition, RoundOverlap
from catalog.numbers import pool_size
from catalog.rounds import RoundInput, get_round, overlapping, validate
from flashsale.core.audit import Operator, audit

EDITABLE = ("starts_at", "ends_at", "stock", "per_account_limit", "per_id_limit")


async def edit_round(
    conn: asyncpg.Connection, operator: Operator, round_id: str, **changes: Any
) -> dict[str, Any]:
    """Apply ``changes`` (some of :data:`EDITABLE`) to a scheduled, unarmed round."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot edit {', '.join(unknown)}", fields=unknown)
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise InvalidInput("nothing to change: give --starts, --ends, --stock or a limit")
    async with conn.transaction():
        rnd = await get_round(conn, round_id, for_update=True)
        if rnd["status"] != "scheduled" or rnd["armed"]:
            state = "armed" if rnd["armed"] else rnd["status"]
            raise InvalidTransition(
                f"round {round_id} is {state}: only a scheduled round not yet armed can be "
                "edited (pause, extend or restock change a running one)",
                round_id=round_id,
                status=rnd["status"],
            )
        before = {k: rnd[k] for k in EDITABLE}
        after = before | changes
        if after == before:
            return rnd | {"changed": False}
        now = datetime.now(UTC)
        if after["starts_at"] <= now:
            raise InvalidInput("the new start is not in the future", starts_at=after["starts_at"])
        inp = RoundInput(
            offer_id=rnd["offer_id"],
            stock=after["stock"],
            starts_at=after["starts_at"],
            ends_at=after["ends_at"],
            per_account_limit=after["per_account_limit"],
            per_id_limit=after["per_id_limit"],
            hold_seconds=rnd["hold_seconds"],
            number_choice=rnd["number_choice"],
            number_pool=rnd["number_pool"],
            channels=tuple(rnd["channels"]),
        )
        validate(inp, now)
        units = after["stock"] + rnd["restocked"]
        if rnd["number_choice"] and units > (size := await pool_size(conn, rnd["number_pool"])):
            raise InvalidInput(
                f"stock {units} exceeds the {size} numbers in pool {rnd['number_pool']}",
                pool=rnd["number_pool"],
            )
        try:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE rounds SET starts_at = $2, ends_at = $3, stock = $4, "
                    "per_account_limit = $5, per_id_limit = $6, updated_at = now() "
                    "WHERE id = $1",
                    round_id,
                    *(after[k] for k in EDITABLE),
                )
        except asyncpg.ExclusionViolationError:
            other = await overlapping(conn, rnd["offer_id"], inp.starts_at, inp.ends_at)
            raise RoundOverlap(
                f"overlaps round {other} of offer {rnd['offer_id']}", round_id=other
            ) from None
        changed = {k: after[k] for k in EDITABLE if after[k] != before[k]}
        await audit(
            conn,
            operator,
            "round.edit",
            f"round:{round_id}",
            {
                "before": {k: _plain(before[k]) for k in changed},
                "after": {k: _plain(v) for k, v in changed.items()},
            },
        )
        return await get_round(conn, round_id) | {"changed": True}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
