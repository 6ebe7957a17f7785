"""Fault injection during a live sale (issue 9): each scenario runs a small sale with
concurrent shoppers against the private stack, breaks one part in the middle of it, brings it
back, and then checks: 0 oversold, 0 lost acknowledged reservations (every 201 the crowd saw
is an order row in PostgreSQL), 0 duplicate orders or shipments, every paid order shipped, and
`reconcile` passes.

Redis durability: the private Redis runs as the product configures it (appendonly yes,
appendfsync always by default). A SIGKILL of the Redis *process* loses nothing the server
answered under either policy: Redis write()s the AOF before it replies, and the kernel keeps the
page cache when the process dies; everysec only bounds what an OS crash or power cut loses
(≤ ~1-2 s of writes), which a test on one host cannot simulate, and always closes that window.
The kill scenario runs with both policies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from redis.asyncio import Redis

from flashsale.stack._service import Service
from tests.faults._sale import RESULTS, Fault, Live, Outcome, Rig, run_sale
from tests.faults._stack import PrivateStack

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]


async def _record(outcome: Outcome) -> Outcome:
    RESULTS.append(outcome)
    return outcome


def _assert(outcome: Outcome) -> None:
    assert outcome.passed, f"{outcome.scenario}: {outcome.problems} ({outcome.summary()})"


async def _until(check: Callable[[], bool | Awaitable[bool]], limit: float) -> float:
    """Seconds until ``check()`` (sync or async) is true; raises after ``limit``."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - began
        await asyncio.sleep(0.1)
    raise AssertionError(f"not recovered after {limit}s")


# --- faults -------------------------------------------------------------------------------


def _kill_process(name: str, down: float = 1.0) -> Fault:
    async def fault(live: Live) -> float:
        began = time.monotonic()
        live.rig.kill(name)
        await asyncio.sleep(down)
        live.rig.restart(name)
        return time.monotonic() - began

    return fault


async def _kill_front_worker(live: Live) -> float:
    before = live.rig.workers()
    assert len(before) == 2, before
    victim = before[0]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        now = live.rig.workers()
        return len(now) == 2 and victim not in now

    took = await _until(replaced, 30)
    await _until(live.rig.ping, 30)
    return took


def _kill_service(
    which: Callable[[PrivateStack], Service], down: float = 1.0, reconnect: bool = False
) -> Fault:
    """SIGKILL one service of the private stack, restart it on its data ``down`` s later;
    ``reconnect``: the test's own PostgreSQL pool drops its dead connections."""

    async def fault(live: Live) -> float:
        stack = live.rig.stack
        began = time.monotonic()
        await stack.kill(which(stack))
        await asyncio.sleep(down)
        await stack.restart(which(stack))
        if reconnect:
            await live.pool.expire_connections()
        return time.monotonic() - began

    return fault


_kill_kafka = _kill_service(lambda s: s.kafka)
_kill_redis = _kill_service(lambda s: s.redis, down=0.0)
_kill_postgres = _kill_service(lambda s: s.postgres, reconnect=True)


async def _script_flush(live: Live) -> float:
    for _ in range(3):
        await live.redis.script_flush()
        await asyncio.sleep(0.3)
    return 0.0


async def _stall_kafka(live: Live) -> float:
    stack = live.rig.stack
    pids = stack.pause(stack.kafka)
    try:
        await asyncio.sleep(4.0)
    finally:
        stack.resume(pids)
    return 4.0


async def _slow_postgres(live: Live) -> float:
    """The orders table locked for 4 s: every writer transaction waits behind it."""
    async with live.pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        await asyncio.sleep(4.0)
    return 4.0


# --- scenarios ----------------------------------------------------------------------------


async def _sale(rig: Rig, name: str, fault: Fault, redis: Redis, pool: asyncpg.Pool) -> Outcome:
    return await _record(await run_sale(rig, name, fault, redis=redis, pool=pool))


async def test_redis_script_flush(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool) -> None:
    out = await _sale(rig, "redis SCRIPT FLUSH", _script_flush, fault_redis, fault_pg)
    _assert(out)
    # Invariant 8: script cache loss never turns into errors for shoppers.
    assert out.server_errors == 0
    assert out.transport_errors == 0


async def test_kafka_stall(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool) -> None:
    _assert(await _sale(rig, "kafka stall (SIGSTOP 4s)", _stall_kafka, fault_redis, fault_pg))


async def test_slow_postgres(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool) -> None:
    _assert(await _sale(rig, "postgres slow (lock 4s)", _slow_postgres, fault_redis, fault_pg))


async def test_kill_front_worker(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool) -> None:
    _assert(await _sale(rig, "kill front worker", _kill_front_worker, fault_redis, fault_pg))


@pytest.mark.parametrize("process", ["relay", "writer", "fulfill"])
async def test_kill_pipeline_process(
    rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool, process: str
) -> None:
    _assert(await _sale(rig, f"kill {process}", _kill_process(process), fault_redis, fault_pg))


async def test_kill_kafka(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool) -> None:
    _assert(await _sale(rig, "kill kafka broker", _kill_kafka, fault_redis, fault_pg))


async def test_kill_postgres(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool) -> None:
    _assert(await _sale(rig, "kill postgres", _kill_postgres, fault_redis, fault_pg))


# Redis last: its restart leaves closed connections in the fronts' pools (see the findings).
@pytest.mark.parametrize("fsync", ["everysec", "always"])
async def test_kill_redis(rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool, fsync: str) -> None:
    """SIGKILL of the Redis process mid-sale, restart from the AOF. Run with the product's
    default appendfsync always and with everysec: neither may lose an acknowledged
    reservation to a process kill (everysec's window is an OS crash, not a process crash)."""
    redis_service = rig.stack.redis
    default = redis_service.appendfsync
    redis_service.appendfsync = fsync  # for the restart's config file
    await fault_redis.config_set("appendfsync", fsync)
    try:
        out = await _sale(rig, f"kill redis ({fsync})", _kill_redis, fault_redis, fault_pg)
    finally:
        redis_service.appendfsync = default
        await fault_redis.config_set("appendfsync", default)
    _assert(out)


async def test_relay_survives_redis_restart(rig: Rig, fault_redis: Redis) -> None:
    """No sale needed: with the relay idle-polling, restart Redis; the relay must keep running
    (as the writer, fulfillment and the fronts do) rather than exit with a traceback."""
    rig.revive()
    relay = rig.services.procs["relay"]
    await asyncio.sleep(1.0)
    assert relay.poll() is None
    await rig.stack.kill(rig.stack.redis)
    await asyncio.sleep(0.5)
    await rig.stack.restart(rig.stack.redis)
    await asyncio.sleep(3.0)
    try:
        assert relay.poll() is None, f"relay exited with {relay.returncode}"
    finally:
        rig.revive()


async def _nothing(live: Live) -> float:
    return 0.0


async def test_no_shopper_errors_after_redis_restart(
    rig: Rig, fault_redis: Redis, fault_pg: asyncpg.Pool
) -> None:
    """Redis killed and restarted *before* the sale, fully back 2 s later: the sale itself
    must see no 5xx and no dropped connections."""
    await rig.stack.kill(rig.stack.redis)
    await rig.stack.restart(rig.stack.redis)
    await asyncio.sleep(2.0)
    out = await _sale(rig, "sale after redis restart", _nothing, fault_redis, fault_pg)
    _assert(out)
    assert (out.server_errors, out.transport_errors) == (0, 0), out.summary()
