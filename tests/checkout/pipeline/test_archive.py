"""Finished rounds leave Redis: short catalog rounds sold over the API (paid, cancelled,
expired), relayed and written in-process, then archived. Their keys (count and MEMORY USAGE)
go to zero, they leave the armed set and the fronts' round cache, every order reads the same
through the API and the CLI, `round report` still works; rounds that are not finished stay;
repeating or resuming after a crash is safe."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from catalog import (
    RoundInput,
    arm,
    close,
    create_round,
    round_report,
)
from catalog.times import zone
from checkout.archived import payment_after_archive
from checkout.payments import Charge, PaymentProvider
from checkout.pipeline.archive import ArchiveConfig, Archiver
from checkout.pipeline.reconcile import reconcile
from checkout.pipeline.relay import Relay, RelayConfig
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.audit import Operator
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from flashsale.front.admission.control import configure
from inventory import ARMED_ROUNDS, Inventory
from inventory.keys import ADMISSION_ROUNDS as ADMISSION_INDEX
from inventory.purge import outbox_last_id, pattern, purge, round_keys
from tests.support import FLASHSALE
from tests.support.admission import refresh
from tests.support.api import api_client, body, buyer, headers
from tests.support.catalog import sim_card_offer
from tests.support.cli import flashsale
from tests.support.pipeline import eventually

OP = Operator(actor="archive-test")
pytestmark = pytest.mark.timeout(120)


@dataclass
class Sale:
    """One test session's pipeline: relay + writer running in-process for rounds ``prefix*``."""

    settings: Settings
    redis: aioredis.Redis
    pool: asyncpg.Pool
    inventory: Inventory
    client: httpx.AsyncClient
    prefix: str
    group: str

    def archiver(self, **config: Any) -> Archiver:
        cfg = ArchiveConfig(writer_group=self.group, round_prefix=self.prefix, **config)
        return Archiver(self.settings, self.redis, self.pool, self.inventory, cfg, OP)

    async def round(
        self, *, hold: int = 900, ends_in: float = 3600, stock: int = 10, buckets: int = 1
    ) -> str:
        async with self.pool.acquire() as conn:
            offer = await sim_card_offer(
                conn,
                OP,
                "archive card",
                agreement_version="v3",
                gifts=[{"kind": "data", "amount": 1024, "unit": "MB"}],
            )
            now = datetime.now(UTC)
            rnd = await create_round(
                conn,
                OP,
                RoundInput(
                    offer_id=offer["id"],
                    stock=stock,
                    starts_at=now - timedelta(seconds=1),
                    ends_at=now + timedelta(seconds=ends_in),
                    hold_seconds=hold,
                    round_id=f"{self.prefix}{offer['product_id']}",
                    buckets=buckets,
                ),
            )
            await arm(conn, Inventory(self.redis), rnd["id"], OP)
        return str(rnd["id"])

    async def close(self, round_id: str) -> None:
        async with self.pool.acquire() as conn:
            await close(conn, Inventory(self.redis), OP, round_id)

    async def reserve(self, round_id: str, who: str) -> str:
        r = await self.client.post(
            f"/api/rounds/{round_id}/orders", json=body(), headers=headers(self.settings, who, who)
        )
        assert r.status_code == 201, r.text
        return str(r.json()["order_id"])

    async def pay(self, order_id: str, who: str) -> None:
        r = await self.client.post(
            f"/api/orders/{order_id}/pay", json={"instant": True}, headers=self.buyer(who)
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"

    async def cancel(self, order_id: str, who: str) -> None:
        r = await self.client.post(f"/api/orders/{order_id}/cancel", headers=self.buyer(who))
        assert r.status_code == 200, r.text

    def buyer(self, who: str) -> dict[str, str]:
        return buyer(self.settings, who)

    async def view(self, order_id: str, who: str) -> httpx.Response:
        return await self.client.get(f"/api/orders/{order_id}", headers=self.buyer(who))

    async def settled(self, *round_ids: str) -> None:
        async def clean() -> bool:
            for rid in round_ids:
                report = await reconcile(
                    self.settings, self.redis, self.pool, rid, group=self.group
                )
                if not report.ok or any(report.outbox.values()):
                    return False
            return True

        await eventually(clean, within=60, every=0.3)


async def footprint(redis: aioredis.Redis, round_id: str) -> tuple[int, int]:
    """(keys, bytes) under the round's hash tag, measured with SCAN + MEMORY USAGE."""
    keys = [k async for k in redis.scan_iter(match=pattern(round_id), count=1000)]
    sizes = [await redis.memory_usage(k) or 0 for k in keys]
    return len(keys), sum(sizes)


async def armed(redis: aioredis.Redis, round_id: str) -> bool:
    return bool(await redis.sismember(ARMED_ROUNDS, round_id))  # type: ignore[misc]


@pytest.fixture
async def sale(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> AsyncIterator[Sale]:
    await ensure_topics(settings)
    prefix = f"ar{unique}-"
    group = f"w-{unique}"
    relay = Relay(settings, redis, RelayConfig(consumer=f"r-{unique}", round_prefix=prefix))
    writer = Writer(settings, pg_pool, WriterConfig(group=group))
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]
    inventory = Inventory(redis)
    try:
        async with api_client(settings) as client:
            yield Sale(settings, redis, pg_pool, inventory, client, prefix, group)
    finally:
        relay.stop()
        writer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await inventory.aclose()
        for rid in [m.decode() for m in await redis.smembers(ARMED_ROUNDS)]:  # type: ignore[misc]
            if unique in rid:
                await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
                keys = await round_keys(redis, rid)
                if keys:
                    await redis.delete(*keys)


async def test_finished_rounds_leave_redis_and_stay_readable(
    sale: Sale, env: dict[str, str]
) -> None:
    # Round a: closed by the marketer. Round b: simply ended. Holds of 3 s expire in both.
    a = await sale.round(hold=3)
    b = await sale.round(hold=3, ends_in=4)
    orders: dict[str, str] = {}  # order id -> buyer
    for rid, buyers in ((a, ("pay", "pay2", "cancel", "expire")), (b, ("pay", "expire"))):
        for who in buyers:
            oid = await sale.reserve(rid, f"{rid}-{who}")
            orders[oid] = f"{rid}-{who}"
            if who.startswith("pay"):
                await sale.pay(oid, orders[oid])
            elif who == "cancel":
                await sale.cancel(oid, orders[oid])
    before_keys = {rid: await footprint(sale.redis, rid) for rid in (a, b)}
    assert all(n >= 8 and size > 0 for n, size in before_keys.values())

    await sale.close(a)
    async with sale.pool.acquire() as conn:  # admission keys go too
        await configure(conn, sale.redis, OP, a, room=True, rate=5)
    assert await sale.redis.sismember(ADMISSION_INDEX, a)  # type: ignore[misc]
    await asyncio.sleep(4.5)  # b's end and every hold's deadline pass
    assert await sale.inventory.sweep(a) == 1
    assert await sale.inventory.sweep(b) == 1
    await sale.settled(a, b)
    seen = {}
    for oid, who in orders.items():
        r = await sale.view(oid, who)
        assert r.status_code == 200
        seen[oid] = r.json()
    assert {v["status"] for v in seen.values()} == {"paid", "cancelled", "expired"}
    cache = sale.client.app.state.fs.rounds  # type: ignore[attr-defined]
    await cache.refresh()
    assert {a, b} <= set(cache.rounds)

    outcomes = await sale.archiver().archive_finished()
    by_round = {o.round_id: o for o in outcomes}
    assert by_round[a].state == by_round[b].state == "archived", outcomes
    assert (by_round[a].orders, by_round[b].orders) == (4, 2)
    for rid in (a, b):
        assert await footprint(sale.redis, rid) == (0, 0)
        assert not await armed(sale.redis, rid)
    assert not await sale.redis.sismember(ADMISSION_INDEX, a)  # type: ignore[misc]
    await cache.refresh()
    await refresh(sale.client)  # the front's admission policies, as its background task does
    assert not {a, b} & set(cache.rounds)
    assert (await sale.client.get(f"/api/rounds/{a}")).status_code == 404
    # nothing brings the keys back: a retried reservation (same key), a sweep, a view
    who = next(iter(orders.values()))
    retried = await sale.client.post(
        f"/api/rounds/{a}/orders", json=body(), headers=headers(sale.settings, who, who)
    )
    assert retried.status_code == 404
    assert retried.json()["error"]["code"] == "not_found"
    assert await sale.inventory.sweep(a) == 0
    assert await footprint(sale.redis, a) == (0, 0)

    for oid, who in orders.items():
        r = await sale.view(oid, who)
        assert r.status_code == 200, r.text
        assert r.json() == seen[oid]  # the same body, field for field
        assert (await sale.view(oid, "mallory")).status_code == 404
    for oid in [o for o in orders if o.startswith(b)] + [next(iter(orders))]:
        who = orders[oid]
        shown = await flashsale(env, "order", "show", oid, "--json")
        data: dict[str, Any] = shown.json()  # type: ignore[assignment]
        assert data["source"] == "archive"
        assert data["status"] == seen[oid]["status"]
        assert data["buyer_id"] == who
        assert data["pii"]["id_masked"].count("*") >= 8
        assert "id_hash" not in shown.out
        assert "id_encrypted" not in shown.out
        assert "v1." not in shown.out  # no ciphertext
    refused = await flashsale(env, "order", "show", next(iter(orders)), "--json", admin=False)
    assert refused.code != 0

    async with sale.pool.acquire() as conn:
        report = await round_report(conn, Inventory(sale.redis), a, zone("UTC"))
        ended = await conn.fetchrow("SELECT status FROM rounds WHERE id = $1", b)
        archive = await conn.fetchrow("SELECT * FROM round_archive WHERE round_id = $1", a)
    assert report["source"] == "archive"
    assert (report["stocked"], report["paid"], report["expired"], report["orders"]) == (10, 2, 2, 4)
    assert ended["status"] == "closed"  # an ended round is closed: never re-armed with stock
    dropped = orjson.loads(archive["dropped"])
    assert dropped["relay_ledger"] == 4
    assert dropped["idempotency_outcomes"] == 4
    assert orjson.loads(archive["reconcile"])["ok"] is True
    cli_report = await flashsale(env, "round", "report", a, "--json")
    assert cli_report.json()["paid"] == 2  # type: ignore[index]

    again = await sale.archiver().archive(a)  # twice: nothing to do, nothing breaks
    assert again.state == "archived"
    assert await footprint(sale.redis, a) == (0, 0)

    # reconcile after the archive: the archive against PostgreSQL, same codes, repair works
    group = ("--group", sale.group, "--json")
    clean = (await flashsale(env, "reconcile", a, *group)).json()
    assert clean["ok"] is True  # type: ignore[index]
    assert clean["source"] == "archive"  # type: ignore[index]
    victim = next(o for o, who in orders.items() if who == f"{a}-pay")
    await sale.pool.execute("DELETE FROM orders WHERE id = $1", victim)
    broken = await flashsale(env, "reconcile", a, *group)
    assert broken.code == 1
    codes = [d["code"] for d in orjson.loads(broken.out)["differences"]]
    assert codes == ["paid", "missing_in_pg"]
    repaired = await flashsale(env, "reconcile", a, "--repair", *group)
    assert repaired.json()["ok"] is True  # type: ignore[index]
    assert await sale.pool.fetchval("SELECT status FROM orders WHERE id = $1", victim) == "paid"


async def test_unfinished_rounds_stay(sale: Sale, unique: str) -> None:
    # open: a hold still waits for payment
    held = await sale.round()
    await sale.reserve(held, f"h-{unique}")
    await sale.close(held)
    # not in PostgreSQL: the relay stopped before the last event (outbox not empty)
    other = f"ax{unique}-"
    unrelayed = await Sale(
        sale.settings, sale.redis, sale.pool, sale.inventory, sale.client, other, sale.group
    ).round()
    oid = await sale.reserve(unrelayed, f"u-{unique}")
    await sale.cancel(oid, f"u-{unique}")
    await sale.close(unrelayed)
    # reconcile not clean: a row went missing from PostgreSQL
    broken = await sale.round()
    oid = await sale.reserve(broken, f"b-{unique}")
    await sale.cancel(oid, f"b-{unique}")
    await sale.close(broken)
    # still live
    live = await sale.round()
    await sale.settled(broken)
    await sale.pool.execute("DELETE FROM orders WHERE id = $1", oid)

    reasons = {}
    for rid in (held, unrelayed, broken, live):
        before = await footprint(sale.redis, rid)
        outcome = await sale.archiver().archive(rid)
        assert outcome.state == "not_finished", outcome
        assert await footprint(sale.redis, rid) == before
        assert await armed(sale.redis, rid)
        reasons[rid] = " ".join(outcome.reasons)
    assert "hold" in reasons[held]
    assert "outbox" in reasons[unrelayed]
    assert "missing_in_pg" in reasons[broken]
    assert "live" in reasons[live]
    assert (
        await sale.pool.fetchval(
            "SELECT count(*) FROM round_archive WHERE round_id = ANY($1::text[])",
            [held, unrelayed, broken, live],
        )
        == 0
    )
    listed = {o.round_id for o in await sale.archiver().archive_finished()}
    assert live not in listed  # a live round is not even a candidate


async def test_crash_between_archive_and_delete_and_a_late_event(sale: Sale, unique: str) -> None:
    rid = await sale.round(hold=2)
    paid_id = await sale.reserve(rid, f"p-{unique}")
    await sale.pay(paid_id, f"p-{unique}")
    late_id = await sale.reserve(rid, f"l-{unique}")
    await sale.close(rid)
    await asyncio.sleep(2.2)
    assert await sale.inventory.sweep(rid) == 1
    await sale.settled(rid)
    body_before = (await sale.view(late_id, f"l-{unique}")).json()

    # "crash" after step 1+2: archive row written and the round unlisted, keys still there
    first = await sale.archiver(settle=3600, wait_settle=False).archive(rid)
    assert first.state == "unlisted"
    assert not await armed(sale.redis, rid)
    assert (await footprint(sale.redis, rid))[0] > 0

    # meanwhile a late payment of the expired order appends an event: the purge must refuse
    confirmed = await sale.inventory.confirm(rid, late_id, f"late-{unique}", 2000)
    assert confirmed.order_id == late_id
    refused = await sale.archiver().archive(rid)
    assert refused.state == "not_finished", refused
    assert "changed" in refused.reasons[0]
    assert await armed(sale.redis, rid)  # back for the relay
    assert (await footprint(sale.redis, rid))[0] > 0

    await sale.settled(rid)
    late_view = (await sale.view(late_id, f"l-{unique}")).json()
    assert late_view != body_before
    # "crash" after the keys were deleted but before it was recorded
    again = await sale.archiver(settle=3600, wait_settle=False).archive(rid)
    assert again.state == "unlisted"
    keys = await round_keys(sale.redis, rid)
    last = await sale.pool.fetchval(
        "SELECT outbox_last_id FROM round_archive WHERE round_id = $1", rid
    )
    assert last == await outbox_last_id(sale.redis, rid)
    assert (await purge(sale.redis, rid, keys, last)).ok
    done = await sale.archiver().archive(rid)
    assert done.state == "archived", done
    assert await footprint(sale.redis, rid) == (0, 0)
    assert await sale.pool.fetchval(
        "SELECT purged_at IS NOT NULL FROM round_archive WHERE round_id = $1", rid
    )
    assert (await sale.view(late_id, f"l-{unique}")).json() == late_view
    assert (await sale.view(paid_id, f"p-{unique}")).json()["status"] == "paid"


async def test_cli_and_sweeper_archive_finished_rounds(
    sale: Sale, env: dict[str, str], unique: str
) -> None:
    by_cli = await sale.round()
    by_sweeper = await sale.round()
    orders = {}
    for rid in (by_cli, by_sweeper):
        oid = await sale.reserve(rid, f"{rid}-w")
        await sale.pay(oid, f"{rid}-w")
        orders[rid] = oid
        await sale.close(rid)
    await sale.settled(by_cli, by_sweeper)

    live = await flashsale(env, "order", "show", orders[by_cli])  # a table, from Redis
    assert live.code == 0, live.err
    assert "redis" in live.out
    assert orders[by_cli] in live.out
    refused = await flashsale(env, "round", "archive", by_cli, admin=False)
    assert refused.code != 0
    assert await armed(sale.redis, by_cli)
    both = await flashsale(env, "round", "archive", by_cli, "--all-finished")
    assert both.code != 0  # a round or --all-finished, not both
    done = await flashsale(env, "round", "archive", by_cli, "--settle", "0.3", "--json")
    assert [o["state"] for o in done.json()] == ["archived"]  # type: ignore[union-attr]
    assert await footprint(sale.redis, by_cli) == (0, 0)
    assert (await sale.view(orders[by_cli], f"{by_cli}-w")).json()["status"] == "paid"

    proc = await asyncio.create_subprocess_exec(
        FLASHSALE, "sweeper", "--no-armer", "--archive-every", "0.5", "--archive-grace", "0",
        "--archive-settle", "0.5", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def gone() -> bool:
            return await footprint(sale.redis, by_sweeper) == (0, 0)

        await eventually(gone, within=60, every=0.5)
        assert not await armed(sale.redis, by_sweeper)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    view = await sale.view(orders[by_sweeper], f"{by_sweeper}-w")
    assert view.status_code == 200
    assert view.json()["status"] == "paid"


async def test_a_poisoned_round_fails_alone(sale: Sale, unique: str) -> None:
    good = await sale.round()
    poisoned = await sale.round()
    for rid in (good, poisoned):
        oid = await sale.reserve(rid, f"{rid}-z")
        await sale.cancel(oid, f"{rid}-z")
        await sale.close(rid)
    await sale.settled(good, poisoned)
    await sale.redis.hset(f"fs:{{r:{poisoned}}}:orders", f"{poisoned}-1", "{not json")  # type: ignore[misc]
    before = await footprint(sale.redis, poisoned)

    outcomes = {o.round_id: o for o in await sale.archiver().archive_finished()}
    assert outcomes[poisoned].state == "failed"
    assert outcomes[poisoned].reasons == ["JSONDecodeError"]
    assert outcomes[good].state == "archived"
    assert await footprint(sale.redis, good) == (0, 0)
    assert await footprint(sale.redis, poisoned) == before
    assert await armed(sale.redis, poisoned)


async def test_two_archivers_at_once(sale: Sale, unique: str) -> None:
    rid = await sale.round()
    oid = await sale.reserve(rid, f"t-{unique}")
    await sale.pay(oid, f"t-{unique}")
    await sale.close(rid)
    await sale.settled(rid)
    view = (await sale.view(oid, f"t-{unique}")).json()
    kept = await sale.archiver(grace=3600).archive(rid)  # closed just now: within the grace
    assert kept.state == "not_finished"
    assert "grace" in kept.reasons[0]
    assert rid not in await sale.archiver(grace=3600).candidates()
    assert await armed(sale.redis, rid)
    first, second = await asyncio.gather(sale.archiver().archive(rid), sale.archiver().archive(rid))
    assert {first.state, second.state} <= {"archived", "skipped"}, (first, second)
    assert "archived" in (first.state, second.state)
    assert await footprint(sale.redis, rid) == (0, 0)
    assert not await armed(sale.redis, rid)
    assert (await sale.view(oid, f"t-{unique}")).json() == view
    assert (
        await sale.pool.fetchval("SELECT count(*) FROM order_archive WHERE round_id = $1", rid) == 1
    )


async def test_a_payment_for_an_archived_order_is_never_kept(sale: Sale, unique: str) -> None:
    rid = await sale.round()
    paid_id = await sale.reserve(rid, f"p-{unique}")
    await sale.pay(paid_id, f"p-{unique}")
    gone_id = await sale.reserve(rid, f"c-{unique}")
    await sale.cancel(gone_id, f"c-{unique}")
    await sale.close(rid)
    await sale.settled(rid)
    views = {o: (await sale.view(o, w)).json() for o, w in ((paid_id, f"p-{unique}"),
                                                             (gone_id, f"c-{unique}"))}  # fmt: skip
    assert (await sale.archiver().archive(rid)).state == "archived"
    provider = PaymentProvider(sale.settings.payment_secret)

    async def callback(payment: Charge) -> dict[str, Any]:
        cb = provider.confirm(payment)
        r = await sale.client.post("/api/payments/callback", content=cb.body, headers=cb.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    # the applied payment announced again: nothing to refund (the HTTP replay guard answers it
    # while it remembers the payment; after that, the archive does)
    applied = views[paid_id]["payment_id"]
    again = await payment_after_archive(sale.pool, paid_id, applied, 2000)
    assert again == {"order_id": paid_id, "status": "paid", "payment_id": applied, "late": False}
    second = await callback(Charge(f"pay-second-{unique}", paid_id, 2000))
    assert (second["payment"], second["refund_reason"]) == ("refund_required", "duplicate_payment")
    late = await callback(Charge(f"pay-late-{unique}", gone_id, 2000))
    assert (late["status"], late["refund_reason"]) == ("cancelled", "late_payment")
    rows = await sale.pool.fetch(
        "SELECT payment_id, amount_fen, reason, state FROM refunds WHERE round_id = $1 "
        "ORDER BY payment_id",
        rid,
    )
    assert [tuple(r.values()) for r in rows] == [
        (f"pay-late-{unique}", 2000, "late_payment", "required"),
        (f"pay-second-{unique}", 2000, "duplicate_payment", "required"),
    ]
    unknown = provider.confirm(Charge(f"pay-x-{unique}", f"{rid}-99", 2000))
    r = await sale.client.post(
        "/api/payments/callback", content=unknown.body, headers=unknown.headers
    )
    assert r.status_code == 404  # never an order: still "no such order"
    for oid, who in ((paid_id, f"p-{unique}"), (gone_id, f"c-{unique}")):
        assert (await sale.view(oid, who)).json() == views[oid]


async def test_the_relay_forgets_rounds_that_left_the_armed_set(
    settings: Settings, redis: aioredis.Redis, unique: str
) -> None:
    prefix = f"rf{unique}-"
    relay = Relay(settings, redis, RelayConfig(consumer=f"r-{unique}", round_prefix=prefix))
    rounds = [f"{prefix}{n}" for n in range(3)]
    await redis.sadd(ARMED_ROUNDS, *rounds)  # type: ignore[misc]
    try:
        await relay.step()
        assert set(rounds) <= relay._groups
        await redis.srem(ARMED_ROUNDS, *rounds[:2])  # type: ignore[misc]
        await relay.step()
        assert {r for r in relay._groups if r.startswith(prefix)} == {rounds[2]}
    finally:
        await relay.aclose()
        await redis.srem(ARMED_ROUNDS, *rounds)  # type: ignore[misc]
        for rid in rounds:
            if keys := await round_keys(redis, rid):
                await redis.delete(*keys)
