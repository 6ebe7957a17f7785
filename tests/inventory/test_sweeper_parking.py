"""A round whose sweep script fails (its holds key holds the wrong type) is recorded once and
skipped; the other rounds' expired holds are still released (issue 12)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import redis.asyncio as aioredis

from checkout.pipeline.parking import retry
from flashsale.core.audit import Operator
from flashsale.core.parked import RetryFailed, RoundErrors
from flashsale.core.settings import Settings
from inventory import Inventory, RoundKeys
from inventory.keys import ARMED_ROUNDS
from inventory.sweeper import run_sweeper, sweep_all
from tests.support.inventory import make_spec, req
from tests.support.parking import parked_rows
from tests.support.pipeline import eventually


async def _rounds(redis: aioredis.Redis, unique: str) -> tuple[Inventory, list[str], str]:
    inv = Inventory(redis, sold_out_ttl=0)
    good = [f"sw{unique}-a", f"sw{unique}-c"]
    bad = f"sw{unique}-b"
    for rid in [*good, bad]:
        await inv.arm(make_spec(rid))
        oid = (await inv.reserve(req(rid, "b1"))).order_id
        assert oid is not None
        await redis.zadd(RoundKeys(rid).holds, {oid: 0}, xx=True)  # the deadline has passed
    await redis.delete(RoundKeys(bad).holds)
    await redis.set(RoundKeys(bad).holds, "not a sorted set")  # WRONGTYPE inside the script
    return inv, good, bad


@pytest.mark.timeout(60)
async def test_poisoned_round_recorded_once_others_swept(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    inv, good, bad = await _rounds(redis, unique)
    errors = RoundErrors("sweeper", pg_pool, every=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_sweeper(
            inv, redis, stop=stop, interval=0.05, max_failures=3, on_round_error=errors.script_error
        )
    )
    try:

        async def released() -> bool:
            return [(await inv.stats(r)).released for r in good] == [1, 1]

        await eventually(released, within=20)
        await asyncio.sleep(0.5)  # several more passes over the poisoned round
        assert not task.done()  # a script error is not an outage: no backoff, no giving up
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await redis.srem(ARMED_ROUNDS, *good, bad)  # type: ignore[misc]
        await inv.aclose()
    rows = await parked_rows(pg_pool, process="sweeper", round_id=bad)
    assert len(rows) == 1  # recorded once per round per interval, not on every pass
    assert rows[0]["reason"] == "script_error"
    assert "WRONGTYPE" in rows[0]["message"]
    assert rows[0]["payload"] is None

    # retry sweeps the round once: refused while the key is still wrong, done once it is fixed
    with pytest.raises(RetryFailed, match="script_failed"):
        await retry(settings, pg_pool, redis, rows[0]["id"], Operator("ops"))
    await redis.delete(RoundKeys(bad).holds)
    out = await retry(settings, pg_pool, redis, rows[0]["id"], Operator("ops"))
    assert (out["changed"], out["state"]) == (True, "retried")


async def test_sweep_all_goes_on_past_a_failing_round(redis: aioredis.Redis, unique: str) -> None:
    inv, good, bad = await _rounds(redis, unique)
    failed: list[str] = []

    async def report(round_id: str, exc: Exception) -> None:
        failed.append(round_id)

    try:
        await sweep_all(inv, redis, on_round_error=report)
    finally:
        await redis.srem(ARMED_ROUNDS, *good, bad)  # type: ignore[misc]
        await inv.aclose()
    assert bad in failed
    for r in good:
        assert (await inv.stats(r)).released == 1


async def test_round_errors_forget_rounds_whose_interval_passed() -> None:
    """The once-per-interval memory holds only rounds that failed recently (it never grows
    with every round a long-running process has seen fail)."""
    errors = RoundErrors("sweeper", None, every=0.1)
    for i in range(20):
        assert await errors.record(f"old{i}", "script_error", RuntimeError("x"))
    assert not await errors.record("old0", "script_error", RuntimeError("x"))  # within interval
    await asyncio.sleep(0.15)
    assert await errors.record("new", "script_error", RuntimeError("x"))
    assert set(errors._last) == {"new"}
