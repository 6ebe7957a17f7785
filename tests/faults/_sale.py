"""One small live sale with a fault injected in the middle, and the invariants checked after.

The sale is the demo's: a round created with the marketer CLI, the real `flashsale` processes
(serve with 2 workers, relay, writer, sweeper, fulfill) and the demo crowd (retries 5xx and
transport errors with the same Idempotency-Key). The crowd talks through a ``RecordingPool``
that keeps every order id answered 201 — the acknowledged reservations — and paces requests
so the sale lasts a few seconds and the fault lands while units are still selling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from checkout.pipeline import relay
from checkout.pipeline.observe import outbox_backlog
from checkout.pipeline.reconcile import reconcile
from flashsale.core.settings import Settings
from flashsale.demo.crowd import Behaviour, Crowd, mint
from flashsale.demo.http1 import Pool, Reply
from flashsale.demo.services import Services
from flashsale.demo.setup import create_catalog
from inventory import Inventory
from tests.faults._stack import PrivateStack, children, cmdline, free_port

STOCK = 200
SHOPPERS = 600
HOLD_SECONDS = 3
OPENS_IN = 3
CONCURRENCY = 8
PACE = 0.03  # seconds before each request: ~250 requests/s, a sale of ~3 s
_TRANSPORT = (OSError, asyncio.IncompleteReadError, ConnectionError)


class RecordingPool(Pool):
    """The crowd's HTTP pool, recording acknowledged order ids; a pay call that meets a dead
    connection answers 599 (the crowd does not retry payments; the hold just expires)."""

    def __init__(self, host: str, port: int, size: int, pace: float) -> None:
        super().__init__(host, port, size)
        self.pace = pace
        self.acked: set[str] = set()
        self.pay_failures = 0

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> Reply:
        await asyncio.sleep(self.pace)
        try:
            reply = await super().request(method, path, headers, body)
        except _TRANSPORT:
            if not path.endswith("/pay"):
                raise
            self.pay_failures += 1
            return Reply(599, {}, b'{"status": "unknown"}')
        if method == "POST" and path.endswith("/orders") and reply.status == 201:
            self.acked.add(reply.json()["order_id"])
        return reply


@dataclass
class Outcome:
    scenario: str
    passed: bool = False
    fault: str = ""
    left_at_fault: int | None = None
    recovered_s: float | None = None  # fault start → the faulty part answers again
    settled_s: float | None = None  # crowd done → every invariant holds
    total_s: float = 0.0
    acked: int = 0
    pg_orders: int = 0
    paid: int = 0
    shipments: int = 0
    lost: int = 0
    oversold: int = 0
    dup_orders: int = 0
    dup_shipments: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    reconcile_ok: bool = False
    problems: list[str] = field(default_factory=list)  # broken invariants: the scenario fails
    findings: list[str] = field(default_factory=list)  # worth a look, not an invariant

    def summary(self) -> str:
        return (
            f"acked {self.acked} = pg {self.pg_orders}, paid {self.paid} = shipped "
            f"{self.shipments}, lost {self.lost}, oversold {self.oversold}, dup orders "
            f"{self.dup_orders}, dup shipments {self.dup_shipments}, 5xx {self.server_errors}, "
            f"transport {self.transport_errors}"
        )


class Rig:
    """The private stack plus the `flashsale` processes running against it."""

    def __init__(self, settings: Settings, env: dict[str, str], stack: PrivateStack, work: Path):
        self.settings = settings
        self.env = env
        self.stack = stack
        self.work = work
        self.services = Services(work / "logs", env)
        self.port = 0
        self.args: dict[str, tuple[str, ...]] = {}
        self.seeds = iter(range(9100, 10_000))

    def start_all(self) -> None:
        s = self.stack
        used = {s.redis.address.port, s.postgres.address.port, s.kafka.address.port}
        self.port = free_port(avoid=frozenset(used | {s.kafka.address.port + 1}))
        self.args = {
            "serve": ("serve", "--port", str(self.port), "--workers", "2"),
            "relay": ("relay", "--consumer", "faults-relay", "--min-idle-ms", "3000"),
            "writer": ("writer",),
            "sweeper": ("sweeper", "--interval", "0.3"),
            "fulfill": (
                "fulfill",
                "--worker",
                "faults-fulfill",
                "--lease",
                "3",
                "--concurrency",
                "32",
                "--carrier-latency-ms",
                "5",
                "--carrier-step-seconds",
                "1",
            ),
        }
        for name, args in self.args.items():
            self.services.start(name, *args)
        self.services.wait_http(f"http://127.0.0.1:{self.port}/api/ping", limit=60)

    def kill(self, name: str) -> None:
        proc = self.services.procs[name]
        proc.kill()
        proc.wait(10)

    def restart(self, name: str) -> None:
        self.services.start(name, *self.args[name])

    def revive(self) -> list[str]:
        """Restart processes that exited on their own; their names (each a finding)."""
        dead = self.services.check()
        for name in dead:
            self.services.procs[name].wait()
            self.restart(name)
        return dead

    def workers(self) -> list[int]:
        """The front's worker processes: uvicorn's run multiprocessing's spawn_main, Granian's
        are forks of the server (the same command line)."""
        serve = self.services.procs["serve"].pid
        own = cmdline(serve)
        return sorted(
            p for p in children(serve) if "spawn_main" in cmdline(p) or (own and cmdline(p) == own)
        )

    async def ping(self) -> bool:
        async with httpx.AsyncClient(timeout=1) as client:
            try:
                return (
                    await client.get(f"http://127.0.0.1:{self.port}/api/ping")
                ).status_code == 200
            except httpx.TransportError:
                return False

    def stop(self) -> dict[str, int | None]:
        return self.services.stop()


@dataclass
class Live:
    """What a fault can see of the sale it interrupts."""

    rig: Rig
    round_id: str
    redis: Redis
    pool: asyncpg.Pool
    inventory: Inventory

    async def left(self) -> int | None:
        try:
            return (await self.inventory.stats(self.round_id)).left
        except Exception:  # noqa: BLE001 - only a note for the table; Redis may be down
            return None


Fault = Callable[[Live], Awaitable[float | None]]  # returns seconds until recovered


async def _poll(check: Callable[[], Awaitable[bool]], limit: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return await check()


async def run_sale(
    rig: Rig,
    scenario: str,
    fault: Fault,
    *,
    fault_after: float = 0.8,
    settle_limit: float = 60.0,
    redis: Redis,
    pool: asyncpg.Pool,
) -> Outcome:
    began = time.monotonic()
    out = Outcome(scenario)
    seed = next(rig.seeds)
    work = rig.work / f"sale-{seed}"
    work.mkdir(parents=True)
    cat = await asyncio.to_thread(
        create_catalog, rig.settings, STOCK, OPENS_IN, HOLD_SECONDS, "1h", seed, work
    )
    behaviour = Behaviour()
    members = await asyncio.to_thread(mint, rig.settings.token_secret, SHOPPERS, seed, behaviour)
    http = RecordingPool("127.0.0.1", rig.port, CONCURRENCY, PACE)
    inventory = Inventory(redis)
    live = Live(rig, cat.round_id, redis, pool, inventory)
    crowd = Crowd(http, cat.round_id, cat.agreement_version, behaviour, cat.numbers[:50], seed)

    async def inject() -> None:
        await asyncio.sleep(max(0.0, cat.opens_at + fault_after - time.time()))
        out.left_at_fault = await live.left()
        out.recovered_s = await fault(live)

    try:
        crowd_task = asyncio.create_task(crowd.run(members, cat.opens_at, CONCURRENCY))
        fault_task = asyncio.create_task(inject())
        stats = await asyncio.wait_for(crowd_task, 90)
        await asyncio.wait_for(fault_task, 90)
        crowd_done = time.monotonic()
        died = rig.revive()
        if died:
            out.findings.append(f"exited on their own (restarted): {', '.join(died)}")

        async def settled() -> bool:
            return await _settled(live, http.acked)

        if await _poll(settled, settle_limit):
            out.settled_s = time.monotonic() - crowd_done
        else:
            out.problems.append(f"not settled after {settle_limit:.0f}s")
        await _check(live, http.acked, out)
        out.server_errors = stats.server_errors
        out.transport_errors = stats.transport_errors + http.pay_failures
        if stats.replays_wrong:
            out.dup_orders += stats.replays_wrong
            out.problems.append(f"{stats.replays_wrong} retries answered a different order")
        if not stats.answers.get("sold_out"):
            out.problems.append("the round never sold out")
    finally:
        await http.close()
    out.total_s = time.monotonic() - began
    out.passed = not out.problems
    return out


async def _settled(live: Live, acked: set[str]) -> bool:
    round_id, redis, pool = live.round_id, live.redis, live.pool
    try:
        st = await live.inventory.stats(round_id)
        backlog = await outbox_backlog(redis, round_id, relay.GROUP)
        row = await pool.fetchrow(
            """SELECT count(*) FILTER (WHERE reserved_at IS NOT NULL) AS orders,
                      count(*) FILTER (WHERE status IN ('paid', 'shipped', 'delivered')) AS paid,
                      count(*) FILTER (WHERE status = 'reserved') AS reserved,
                      (SELECT count(*) FROM shipments s WHERE s.round_id = $1) AS shipments,
                      count(*) FILTER (WHERE id = ANY($2::text[])) AS acked
               FROM orders WHERE round_id = $1""",
            round_id,
            list(acked),
        )
    except Exception:  # noqa: BLE001 - a service may still be coming back: not settled yet
        return False
    if st.held or backlog["length"] or backlog["pending"] or row["reserved"]:
        return False
    if row["orders"] != st.orders or row["acked"] != len(acked) or row["paid"] != st.paid:
        return False
    if row["shipments"] < row["paid"]:
        return False
    return (await reconcile(live.rig.settings, redis, pool, round_id)).ok


async def _check(live: Live, acked: set[str], out: Outcome) -> None:
    round_id, pool = live.round_id, live.pool
    st = await live.inventory.stats(round_id)
    rows = await pool.fetch(
        "SELECT id, status, buyer_id, coalesce(quantity, 0) AS q FROM orders "
        "WHERE round_id = $1 AND reserved_at IS NOT NULL",
        round_id,
    )
    ids = {r["id"] for r in rows}
    selling = sum(
        r["q"] for r in rows if r["status"] in ("reserved", "paid", "shipped", "delivered")
    )
    out.acked = len(acked)
    out.pg_orders = len(rows)
    out.paid = sum(1 for r in rows if r["status"] in ("paid", "shipped", "delivered"))
    lost = acked - ids
    out.lost = len(lost)
    out.oversold = max(0, -st.left, st.held + st.paid - st.stocked, selling - st.stocked)
    out.dup_orders = await pool.fetchval(
        "SELECT count(*) FROM (SELECT buyer_id FROM orders WHERE round_id = $1 "
        "GROUP BY buyer_id HAVING count(*) > 1) d",
        round_id,
    )
    ship = await pool.fetchrow(
        """SELECT count(*) AS shipments,
                  count(DISTINCT order_id) AS orders,
                  count(*) FILTER (WHERE order_id NOT IN (
                      SELECT id FROM orders WHERE round_id = $1
                      AND status IN ('paid', 'shipped', 'delivered'))) AS unpaid
           FROM shipments WHERE round_id = $1""",
        round_id,
    )
    out.shipments = int(ship["shipments"])
    bookings = await pool.fetchval(
        "SELECT count(*) FROM (SELECT parcel->>'order_id' AS o FROM sim_carrier_bookings "
        "WHERE parcel->>'order_id' = ANY($1::text[]) GROUP BY 1 HAVING count(*) > 1) d",
        list(ids),
    )
    out.dup_shipments = int(ship["shipments"] - ship["orders"]) + int(bookings)
    report = await reconcile(live.rig.settings, live.redis, pool, round_id)
    out.reconcile_ok = report.ok
    if out.lost:
        out.problems.append(
            f"{out.lost} acknowledged reservation(s) not in PostgreSQL: {sorted(lost)[:5]}"
        )
    if out.oversold:
        out.problems.append(f"oversold by {out.oversold} (stats {st})")
    if out.dup_orders:
        out.problems.append(f"{out.dup_orders} buyer(s) with more than one order")
    if out.dup_shipments:
        out.problems.append(f"{out.dup_shipments} duplicate shipment(s)/booking(s)")
    if ship["unpaid"]:
        out.problems.append(f"{ship['unpaid']} shipment(s) of orders not paid")
    if out.shipments != out.paid:
        out.problems.append(f"paid {out.paid} but {out.shipments} shipments")
    if not report.ok:
        out.problems.append(
            "reconcile: " + "; ".join(f"{d.code} {d.message}" for d in report.differences)
        )


def settings_for(base: Settings, stack: PrivateStack, prefix: str) -> Settings:
    return dataclasses.replace(
        base,
        redis_url=stack.redis_url,
        database_url=stack.database_url,
        kafka_bootstrap=stack.kafka_bootstrap,
        topic_prefix=prefix,
    )


RESULTS: list[Outcome] = []  # every scenario run in this session, for the summary table
