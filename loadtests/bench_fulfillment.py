"""Fulfillment benchmark: orders/s shipped by one fulfillment worker, as a ratio to the writer's
orders/s on the same backlog in the same run (not a test).

Each repetition uses a fresh database and topic prefix (dropped afterwards): N paid orders
(order.reserved + order.paid, as the relay publishes them) wait on the orders topic, with N
blank SIM cards and N spare numbers in stock. The writer drains the backlog into ``orders``;
then a fulfillment worker drains the same backlog (its own consumer group) with the carrier
simulation at each latency asked (0 ms, then a realistic one), the fulfillment tables and the
stock reset in between. Each rate runs from the process's first row written to its last.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg

from flashsale.core.settings import Settings
from fulfillment import CarrierConfig, FulfillConfig, Fulfiller, SimulatedCarrier, seed_stock
from loadtests.bench_writer import paid, publish, reserved, scratch, until, writer_rate

_RESET = """
TRUNCATE fulfillment_orders, shipment_history, shipments, gift_activations, fulfillment_outbox,
         fulfillment_dead_letters, sim_carrier_bookings;
UPDATE sim_cards SET order_id = NULL, unit = NULL, number = NULL, allocated_at = NULL
WHERE order_id IS NOT NULL;
UPDATE phone_numbers SET order_id = NULL, unit = NULL, bound_at = NULL
WHERE order_id IS NOT NULL"""


_SHIPPED = """
SELECT (SELECT count(*) FROM fulfillment_orders),
       (SELECT count(*) FROM shipments) + (SELECT count(*) FROM fulfillment_dead_letters)"""


async def fulfillment_rate(
    s: Settings, pool: asyncpg.Pool, orders: int, latency_ms: int, config: FulfillConfig
) -> dict[str, float]:
    """Orders/s of one worker shipping the backlog (from its first row taken in to the last
    shipment), and the time from its start to the last shipment."""
    carrier = SimulatedCarrier(pool, CarrierConfig(latency_ms=latency_ms))
    worker = Fulfiller(s, pool, carrier, config)
    began = time.perf_counter()
    task = asyncio.create_task(worker.run())
    try:
        first, done = await until(pool, orders, _SHIPPED)
    finally:
        worker.stop()
        await task
    dead = await pool.fetchval("SELECT count(*) FROM fulfillment_dead_letters")
    if dead:
        raise RuntimeError(f"{dead} orders dead-lettered in the bench; see the worker's log")
    return {"orders_per_s": orders / max(done - first, 1e-6), "wall_s": done - began}


async def one_run(
    base: Settings, orders: int, latencies: tuple[int, ...], batch: int, concurrency: int
) -> dict[str, Any]:
    async with scratch(base, pool_size=8) as (s, pool):
        spare = orders + orders // 100 + 10  # random stock collides now and then: a margin
        await seed_stock(pool, sim_cards=spare, numbers=spare, seed=1)
        round_id = f"bench-{s.topic_prefix}"
        await publish(
            s, [e for n in range(1, orders + 1) for e in (reserved(round_id, n), paid(round_id, n))]
        )
        writer = await writer_rate(s, pool, orders, f"w-{s.topic_prefix}", status="paid")
        out: dict[str, Any] = {"writer_orders_per_s": writer}
        for latency in latencies:
            await pool.execute(_RESET)
            config = FulfillConfig(
                group=f"f{latency}-{s.topic_prefix}",
                batch=batch,
                concurrency=concurrency,
                track_every=3600.0,  # tracking is not shipping
            )
            got = await fulfillment_rate(s, pool, orders, latency, config)
            out[f"fulfillment_{latency}ms_orders_per_s"] = got["orders_per_s"]
            out[f"fulfillment_{latency}ms_wall_s"] = got["wall_s"]
            out[f"ratio_{latency}ms"] = got["orders_per_s"] / writer
        return out


def run(
    settings: Settings,
    orders: int,
    repetitions: int,
    *,
    latencies: tuple[int, ...] = (0, 150),
    batch: int = FulfillConfig.batch,
    concurrency: int = FulfillConfig.concurrency,
    say: Any = print,
) -> dict[str, Any]:
    runs = []
    for i in range(repetitions):
        r = asyncio.run(one_run(settings, orders, latencies, batch, concurrency))
        legs = ", ".join(
            f"carrier {ms} ms: {r[f'fulfillment_{ms}ms_orders_per_s']:.0f} orders/s "
            f"(ratio {r[f'ratio_{ms}ms']:.2f})"
            for ms in latencies
        )
        say(f"run {i + 1}: writer {r['writer_orders_per_s']:.0f} orders/s; fulfillment {legs}")
        runs.append(r)
    return {
        "orders": orders,
        "repetitions": repetitions,
        "batch": batch,
        "lanes": FulfillConfig.lanes,
        "concurrency": concurrency,
        **{f"{k}_median": round(statistics.median(r[k] for r in runs), 3) for k in runs[0]},
        "runs": runs,
    }
