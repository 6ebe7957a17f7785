"""`flashsale round waiting-room|pow`: admin credential, audit row, options in Redis."""

from __future__ import annotations

from typing import Any

import asyncpg
import redis.asyncio as aioredis

from flashsale.front.admission import Policy
from flashsale.front.admission.policy import read
from inventory.keys import ADMISSION_ROUNDS as INDEX
from tests.support.cli import create, flashsale, refused


async def test_waiting_room_and_pow_options(
    env: dict[str, str],
    offer: dict[str, Any],
    pg_pool: asyncpg.Pool,
    redis: aioredis.Redis,
) -> None:
    rnd = await create(
        env, offer, "--stock", "5", "--starts", "+30m", "--duration", "1h", "--no-arm"
    )
    rid = rnd["id"]
    refused(
        await flashsale(env, "round", "waiting-room", rid, "--rate", "9", admin=False), "credential"
    )
    refused(await flashsale(env, "round", "waiting-room", rid))  # --rate or --off
    refused(await flashsale(env, "round", "pow", "no-such-round", "--bits", "8"))
    assert await read(redis, rid) == Policy()

    room = (await flashsale(env, "round", "waiting-room", rid, "--rate", "500", "--json")).json()
    assert room["waiting_room"] is True  # type: ignore[index]
    await flashsale(env, "round", "pow", rid, "--bits", "18", "--json")
    assert await read(redis, rid) == Policy(room=True, rate=500, pow_bits=18)
    assert await redis.sismember(INDEX, rid)  # type: ignore[misc]

    await flashsale(env, "round", "waiting-room", rid, "--off")
    await flashsale(env, "round", "pow", rid, "--off")
    assert await read(redis, rid) == Policy(room=False, rate=500, pow_bits=0)
    assert not await redis.sismember(INDEX, rid)  # type: ignore[misc]
    async with pg_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT actor, details FROM audit_log WHERE action = 'round.admission' "
            "AND subject = $1 ORDER BY id",
            f"round:{rid}",
        )
    assert len(rows) == 4
