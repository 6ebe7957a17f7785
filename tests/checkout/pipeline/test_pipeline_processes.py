"""The whole pipeline as real processes: `flashsale relay` and `flashsale writer` killed with
SIGKILL mid-stream and restarted still end with exactly one row per order; `flashsale
reconcile` agrees afterwards and names a deliberately deleted row."""

from __future__ import annotations

import signal

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from tests.support.cli import cli, spawn
from tests.support.pipeline import disarm, eventually, order_count, paid, reserved, statuses, xadd
from tests.support.processes import stop


@pytest.mark.timeout(120)
async def test_sigkill_relay_and_writer_mid_stream(
    settings: Settings, env: dict[str, str], redis: Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    await ensure_topics(settings)
    r = f"kill-{unique}"
    group = f"w-{unique}"
    base = [reserved(r, n) for n in range(1, 3001)]
    stream = []
    for e in base:
        stream.append(e)
        if int(e.order_id.rsplit("-", 1)[1]) % 2:
            stream.append(paid(e))
    relay_args = (
        "relay",
        "--consumer",
        f"relay-{unique}",
        "--round-prefix",
        r,
        "--batch",
        "200",
        "--min-idle-ms",
        "1000",
    )
    writer_args = ("writer", "--group", group, "--batch", "300")
    await xadd(redis, stream[:2000])
    relay = await spawn(env, *relay_args)
    writer = await spawn(env, *writer_args)
    try:
        await eventually(lambda: _at_least(pg_pool, r, 200), within=40)
        await stop(relay, signal.SIGKILL)
        await stop(writer, signal.SIGKILL)
        await xadd(redis, stream[2000:])
        relay = await spawn(env, *relay_args)
        writer = await spawn(env, *writer_args)

        async def complete() -> bool:
            return await order_count(pg_pool, r) == 3000 and await pg_pool.fetchval(
                "SELECT count(*) FROM order_events WHERE round_id=$1", r
            ) == len(stream)

        await eventually(complete, within=60, every=0.25)
    finally:
        rc_relay, out_relay = await stop(relay)
        rc_writer, out_writer = await stop(writer)
        await disarm(redis, r)
    assert rc_relay == 0, out_relay[-2000:]
    assert rc_writer == 0, out_writer[-2000:]
    got = await statuses(pg_pool, r)
    assert len(got) == 3000
    assert sum(s == "paid" for s in got.values()) == 1500
    assert "national_id" not in out_relay + out_writer  # no PII in logs

    rc, out = await cli(env, "reconcile", r, "--json", "--group", group)
    assert rc == 0, out
    report = orjson.loads(out)
    assert report["ok"] is True
    assert report["outbox"] == {"length": 0, "pending": 0}

    await pg_pool.execute("DELETE FROM orders WHERE id = $1", f"{r}-17")
    rc, out = await cli(env, "reconcile", r, "--group", group)
    assert rc == 1
    assert "missing_in_pg" in out
    assert f"{r}-17" in out


async def _at_least(pool: asyncpg.Pool, round_id: str, n: int) -> bool:
    return await order_count(pool, round_id) >= n
