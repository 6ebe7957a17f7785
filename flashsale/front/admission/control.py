"""Operators change a round's admission options: audited in PostgreSQL, applied in Redis.

The audit row is written in the transaction that holds the round's row lock; Redis is changed
inside it, so a Redis failure rolls the audit back. Setting the same options again is harmless.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import redis.asyncio as aioredis

from catalog.errors import InvalidInput, RoundStateUnavailable
from catalog.rounds import get_round
from flashsale.core.audit import Operator, audit
from flashsale.front.admission import policy as options
from flashsale.front.admission.policy import Policy


async def configure(
    conn: asyncpg.Connection,
    redis: aioredis.Redis,
    operator: Operator,
    round_id: str,
    *,
    room: bool | None = None,
    rate: int | None = None,
    pow_bits: int | None = None,
) -> dict[str, Any]:
    """Change the given options; return the round's options before and after."""
    async with conn.transaction():
        await get_round(conn, round_id, for_update=True)  # exists, and one change at a time
        try:
            before = await options.read(redis, round_id)
            after = Policy(
                room=before.room if room is None else room,
                rate=before.rate if rate is None else rate,
                pow_bits=before.pow_bits if pow_bits is None else pow_bits,
            )
            if after.room and after.rate <= 0:
                raise InvalidInput("a waiting room needs --rate > 0")
            await audit(
                conn,
                operator,
                "round.admission",
                f"round:{round_id}",
                {"from": before.as_dict(), "to": after.as_dict()},
            )
            await options.write(redis, round_id, after)
        except (aioredis.RedisError, OSError) as exc:
            raise RoundStateUnavailable(f"Redis unavailable: {exc}") from exc
    return {"round_id": round_id, "before": before.as_dict(), **after.as_dict()}
