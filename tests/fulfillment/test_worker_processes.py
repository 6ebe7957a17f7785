"""`flashsale fulfill` as real processes: two workers at once, one killed with SIGKILL in the
middle of a batch (the carrier holds bookings it never answered), restarted — still exactly one
shipment per paid order and one carrier booking per idempotency key; SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest

from flashsale.core.settings import Settings
from tests.support import FLASHSALE
from tests.support.fulfillment import booked, carrier_requests, paid_sim_orders, shipment_counts
from tests.support.offer import sim_offer
from tests.support.pipeline import eventually
from tests.support.processes import stop

_ORPHAN = """
SELECT count(*) FROM fulfillment_orders f
JOIN sim_carrier_bookings b ON b.idempotency_key = 'order:' || f.order_id
WHERE f.round_id = $1 AND f.worker = $2 AND f.state = 'working'"""


async def spawn(env: dict[str, str], name: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        FLASHSALE,
        "fulfill",
        "--worker",
        name,
        "--batch",
        "12",
        "--lanes",
        "1",
        "--concurrency",
        "12",
        "--lease",
        "2",
        "--track-every",
        "60",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


@pytest.mark.timeout(90)
async def test_sigkill_mid_batch_two_workers_no_duplicate(
    own: Settings, env: dict[str, str], pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"kb-{unique}"
    await paid_sim_orders(own, pg_pool, r, 24, sim_offer(), seed=8)
    penv = {
        **env,
        "FLASHSALE_TOPIC_PREFIX": own.topic_prefix,
        "FLASHSALE_CARRIER_LATENCY_MS": "1500",
    }  # slow carrier: long mid-booking window
    a, b = await spawn(penv, f"a-{unique}"), await spawn(penv, f"b-{unique}")
    try:

        async def a_mid_booking() -> bool:
            # the carrier has made bookings for orders of the batch worker a holds, not yet
            # answered
            return await pg_pool.fetchval(_ORPHAN, r, f"a-{unique}") >= 3

        await eventually(a_mid_booking, within=30, every=0.02)
        rc, _ = await stop(a, signal.SIGKILL)
        assert rc == -signal.SIGKILL
        a = await spawn(penv, f"a-{unique}")

        async def all_booked() -> bool:
            return await booked(pg_pool, r) == 24

        await eventually(all_booked, within=50, every=0.2)
        await asyncio.sleep(0.5)
    finally:
        rc_a, out_a = await stop(a)
        rc_b, out_b = await stop(b)
    assert rc_a == 0, out_a[-2000:]
    assert rc_b == 0, out_b[-2000:]
    counts = await shipment_counts(pg_pool, r)
    assert len(counts) == 24
    assert set(counts.values()) == {1}
    requests = await carrier_requests(pg_pool, r)
    assert len(requests) == 24  # one booking per order at the carrier
    assert max(requests.values()) >= 2  # the killed worker's booking was asked for again
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM fulfillment_orders WHERE round_id = $1 AND state <> 'booked'", r
        )
        == 0
    )
    workers = {
        row["worker"]
        for row in await pg_pool.fetch(
            "SELECT DISTINCT worker FROM fulfillment_orders WHERE round_id = $1", r
        )
    }
    assert f"b-{unique}" in workers
    assert "fulfill.stop" in out_b
    assert "national_id" not in out_a + out_b
