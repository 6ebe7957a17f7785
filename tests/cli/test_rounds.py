"""`flashsale round …` against the real PostgreSQL and Redis: create/show/list in a chosen zone,
every refusal (and that it changed nothing), arming, pause/resume/extend/close in Redis, restock,
report, the armer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from catalog import arm_due, run_armer
from flashsale.core.settings import Settings
from inventory import Inventory
from tests.support.cli import OP, create, flashsale, numbers, refused, typed
from tests.support.inventory import req

SOLD_OUT_LEASE = 0.5  # seconds (the Inventory default)


@pytest.fixture
async def inv(redis: aioredis.Redis) -> Any:
    inventory = Inventory(redis, sold_out_ttl=SOLD_OUT_LEASE)
    yield inventory
    await inventory.aclose()


def iso(dt: datetime) -> str:
    return dt.isoformat()


async def snapshot(pg_pool: asyncpg.Pool) -> tuple[int, int, int]:
    async with pg_pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM rounds"),
            await conn.fetchval("SELECT count(*) FROM audit_log"),
            await conn.fetchval("SELECT count(*) FROM round_restocks"),
        )


async def test_create_show_list_in_the_chosen_zone(
    env: dict[str, str], offer: dict[str, Any]
) -> None:
    rnd = await create(
        env,
        offer,
        "--stock",
        "100000",
        "--starts",
        "2031-05-17T10:00+08:00",
        "--duration",
        "12h",
        "--channels",
        "web,mobile",
        "--per-id",
        "1",
        "--hold-seconds",
        "600",
    )
    assert len(rnd["id"]) <= 12
    assert rnd["starts_at"] == "2031-05-17T10:00:00+08:00"  # default zone Asia/Shanghai
    assert rnd["ends_at"] == "2031-05-17T22:00:00+08:00"
    assert rnd["status"] == "scheduled"
    assert rnd["armed"] is False  # years away: the armer arms it later
    assert rnd["channels"] == ["web", "mobile"]
    shown = (await flashsale(env, "round", "show", rnd["id"], "--tz", "UTC", "--json")).json()
    assert shown["starts_at"] == "2031-05-17T02:00:00+00:00"  # type: ignore[index]
    ny = (
        await flashsale(env, "round", "show", rnd["id"], "--json", FLASHSALE_TZ="America/New_York")
    ).json()
    assert ny["starts_at"] == "2031-05-16T22:00:00-04:00"  # type: ignore[index]
    table = await flashsale(env, "round", "show", rnd["id"], "--tz", "Europe/Berlin")
    assert "2031-05-17T04:00:00+02:00" in table.out
    listed = (await flashsale(env, "round", "list", "--offer", str(offer["id"]), "--json")).json()
    assert [r["id"] for r in listed] == [rnd["id"]]  # type: ignore[union-attr, index]
    # a local time typed in another zone
    berlin = await create(
        env,
        offer,
        "--stock",
        "5",
        "--starts",
        "2031-06-01 20:00",
        "--ends",
        "2031-06-01 22:00",
        "--tz",
        "Europe/Berlin",
    )
    assert berlin["starts_at"] == "2031-06-01T20:00:00+02:00"


async def test_refusals_change_nothing(
    env: dict[str, str], offer: dict[str, Any], pg_pool: asyncpg.Pool, unique: str
) -> None:
    start = datetime(2032, 1, 1, 10, tzinfo=UTC)
    await create(env, offer, "--stock", "10", "--starts", iso(start), "--duration", "2h")
    before = await snapshot(pg_pool)
    oid = str(offer["id"])
    base = f"round create --offer {oid} --yes"
    later = iso(start + timedelta(days=10))
    hour = f"--starts {later} --duration 1h"
    cases: list[tuple[str, str]] = [
        (f"{base} --stock 5 --starts {later} --ends {iso(start + timedelta(days=9))}", "end"),
        (f"{base} --stock 0 {hour}", "stock"),
        (f"{base} --stock -3 {hour}", "stock"),
        (f"round create --offer 999999 --yes --stock 5 {hour}", "unknown offer"),
        (
            f"{base} --stock 5 --starts {iso(start + timedelta(hours=1))} --duration 2h",
            "overlaps",
        ),
        (f"{base} --stock 5 --starts '2032-03-01 10:00' --duration 1h --tz Nowhere/Land", "zone"),
        (f"{base} --stock 5 --starts tomorrow --duration 1h", "bad time"),
        (f"{base} --stock 5 {hour} --number-choice", "number pool"),
        (f"{base} --stock 5 {hour} --number-pool none-{unique}", "unknown number pool"),
        (f"{base} --stock 5 {hour} --channels fax", "channels"),
        (f"{base} --stock 5 --starts 2020-01-01T00:00+08:00 --duration 1h", "past"),
    ]
    for command, reason in cases:
        refused(await typed(env, command), reason)
        assert await snapshot(pg_pool) == before, command
    # non-admin
    refused(await typed(env, f"{base} --stock 5 {hour}", admin=False), "refused")
    assert await snapshot(pg_pool) == before


async def test_number_choice_needs_enough_numbers(
    env: dict[str, str], offer: dict[str, Any], tmp_path: Any, unique: str, inv: Inventory
) -> None:
    path = tmp_path / "n.txt"
    nums = numbers(3)
    path.write_text(f"{nums[0]}\n{nums[1]}\n{nums[2]},66\n")
    pool = f"lucky-{unique}"
    assert (await flashsale(env, "numbers", "load", pool, str(path))).code == 0
    choice = f"--starts +1m --duration 1h --number-choice --number-pool {pool}"
    refused(await typed(env, f"round create --offer {offer['id']} --stock 4 {choice}"), "exceeds")
    rnd = await create(
        env,
        offer,
        "--stock",
        "3",
        "--starts",
        "+1m",
        "--duration",
        "1h",
        "--number-choice",
        "--number-pool",
        pool,
    )
    assert rnd["armed"] is True
    assert rnd["number_pool"] == pool
    stats = await inv.stats(rnd["id"])
    assert stats.stocked == 3


async def test_arm_twice_is_a_noop_and_controls_reach_redis(
    env: dict[str, str], offer: dict[str, Any], inv: Inventory, pg_pool: asyncpg.Pool
) -> None:
    rnd = await create(env, offer, "--stock", "50", "--starts", "now", "--duration", "1h")
    rid = rnd["id"]
    assert rnd["armed"] is True  # starts within the lead time: armed at once
    assert (await inv.stats(rid)).stocked == 50
    again = (await flashsale(env, "round", "arm", rid, "--json")).json()
    assert again["changed"] is False  # type: ignore[index]
    stats = await inv.stats(rid)
    assert (stats.stocked, stats.left) == (50, 50)

    for verb, status in (
        ("pause", "paused"),
        ("pause", "paused"),
        ("resume", "live"),
        ("resume", "live"),
        ("close", "closed"),
        ("close", "closed"),
    ):
        out = (await flashsale(env, "round", verb, rid, "--json")).json()
        assert out["status"] == status, verb  # type: ignore[index]
        assert (await inv.stats(rid)).status == status, verb
    refused(await flashsale(env, "round", "resume", rid), "closed")
    refused(await flashsale(env, "round", "extend", rid, "--by", "1h"), "closed")
    refused(await flashsale(env, "round", "arm", rid), "closed")
    async with pg_pool.acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id", f"round:{rid}"
            )
        ]
    # repeats changed nothing, so they wrote no audit rows
    assert actions == ["round.create", "round.arm", "round.pause", "round.resume", "round.close"]


async def test_extend(env: dict[str, str], offer: dict[str, Any]) -> None:
    start = datetime(2033, 1, 1, 10, tzinfo=UTC)
    rnd = await create(env, offer, "--stock", "5", "--starts", iso(start), "--duration", "1h")
    nxt = await create(
        env, offer, "--stock", "5", "--starts", iso(start + timedelta(hours=3)), "--duration", "1h"
    )
    rid = rnd["id"]
    out = (
        await flashsale(env, "round", "extend", rid, "--by", "1h", "--tz", "UTC", "--json")
    ).json()
    assert out["ends_at"] == "2033-01-01T12:00:00+00:00"  # type: ignore[index]
    same = (
        await flashsale(env, "round", "extend", rid, "--until", "2033-01-01T12:00Z", "--json")
    ).json()
    assert same["changed"] is False  # type: ignore[index]
    refused(await flashsale(env, "round", "extend", rid, "--until", "2033-01-01T11:30Z"), "later")
    refused(await flashsale(env, "round", "extend", rid, "--by", "2h"), "overlaps", nxt["id"])


async def test_restock_is_idempotent(
    env: dict[str, str], offer: dict[str, Any], inv: Inventory, unique: str
) -> None:
    rnd = await create(env, offer, "--stock", "10", "--starts", "now", "--duration", "1h")
    rid = rnd["id"]
    for _ in range(2):
        out = (
            await flashsale(
                env, "round", "restock", rid, "5", "--restock-id", f"x-{unique}", "--json"
            )
        ).json()
        assert out["stocked"] == 15  # type: ignore[index]
    assert (await inv.stats(rid)).stocked == 15
    refused(
        await flashsale(env, "round", "restock", rid, "7", "--restock-id", f"x-{unique}"),
        "was used",
    )
    refused(await flashsale(env, "round", "restock", rid, "0"), "positive")
    refused(await flashsale(env, "round", "restock", rid, "5", admin=False), "refused")
    assert (await inv.stats(rid)).stocked == 15


async def test_restock_during_live_round_is_atomic(
    settings: Settings,
    offer: dict[str, Any],
    pg_pool: asyncpg.Pool,
    inv: Inventory,
    env: dict[str, str],
) -> None:
    from catalog import restock

    rnd = await create(
        env,
        offer,
        "--stock",
        "100",
        "--starts",
        "now",
        "--duration",
        "1h",
        "--per-account",
        "1",
        "--per-id",
        "1",
    )
    rid = rnd["id"]

    async def one_restock(i: int) -> None:
        async with pg_pool.acquire() as conn:
            await restock(conn, inv, OP, rid, 10, f"{rid}-{i}")

    # restocks race with buyers; then more buyers arrive after the last restock
    tasks = [one_restock(i) for i in range(10)] + [
        inv.reserve(req(rid, f"b{i}")) for i in range(300)
    ]
    results = list(await asyncio.gather(*tasks))
    # a restock that lands during the round's sold-out lease is sold once the lease ends
    await asyncio.sleep(SOLD_OUT_LEASE + 0.1)
    results += await asyncio.gather(*(inv.reserve(req(rid, f"b{i}")) for i in range(300, 450)))
    reserved = [r for r in results if r is not None and r.ok]
    # stock 100 + 10 restocks of 10 = 200 units for 450 buyers: every unit sold exactly once
    assert len(reserved) == 200
    assert len({r.order_id for r in reserved}) == 200
    stats = await inv.stats(rid)
    assert (stats.stocked, stats.left, stats.held) == (200, 0, 200)
    report = (await flashsale(env, "round", "report", rid, "--json")).json()
    assert report["stocked"] == 200  # type: ignore[index]
    assert report["held"] == 200  # type: ignore[index]
    assert report["left"] == 0  # type: ignore[index]


async def test_report_shape(env: dict[str, str], offer: dict[str, Any]) -> None:
    rnd = await create(
        env, offer, "--stock", "7", "--starts", "2034-01-01T00:00Z", "--duration", "1h"
    )
    report = (await flashsale(env, "round", "report", rnd["id"], "--json", "--tz", "UTC")).json()
    assert report == {  # unarmed: figures from the catalog
        "round_id": rnd["id"],
        "status": "scheduled",
        "stage": "upcoming",
        "armed": False,
        "source": "catalog",
        "stocked": 7,
        "left": 7,
        "held": 0,
        "paid": 0,
        "expired": 0,
        "refund_required": 0,
        "orders": 0,
        "sold": 0,
        "sold_out_at": None,
        "starts_at": "2034-01-01T00:00:00+00:00",
        "ends_at": "2034-01-01T01:00:00+00:00",
        "orders_per_minute": 0,
        "peak_minute": None,
        "peak_minute_orders": 0,
        "per_minute": [],
        "by_channel": {"web": 0, "mobile": 0, "sms": 0},
    }
    table = await flashsale(env, "round", "report", rnd["id"])
    assert table.code == 0
    assert "by channel" in table.out


async def test_armer_arms_rounds_starting_soon(
    settings: Settings,
    env: dict[str, str],
    offer: dict[str, Any],
    pg_pool: asyncpg.Pool,
    inv: Inventory,
) -> None:
    soon = await create(
        env, offer, "--stock", "9", "--starts", "+3m", "--duration", "1h", "--no-arm"
    )
    far = await create(
        env, offer, "--stock", "9", "--starts", "+3h", "--duration", "1h", "--no-arm"
    )
    assert soon["armed"] is False
    armed = await arm_due(pg_pool, inv, timedelta(minutes=10))
    assert soon["id"] in armed
    assert far["id"] not in armed
    assert await arm_due(pg_pool, inv, timedelta(minutes=10)) == []  # idempotent
    assert (await inv.stats(soon["id"])).stocked == 9
    # the loop form: runs a pass, stops when asked
    later = await create(
        env, offer, "--stock", "4", "--starts", "+5h", "--duration", "1h", "--no-arm"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_armer(settings, stop, lead=timedelta(hours=6), interval=0.05))
    for _ in range(100):
        shown = (await flashsale(env, "round", "show", later["id"], "--json")).json()
        if shown["armed"]:  # type: ignore[index]
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (await inv.stats(later["id"])).stocked == 4


async def test_report_counts_orders_per_minute_and_channel(
    env: dict[str, str], offer: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    rnd = await create(env, offer, "--stock", "10", "--starts", "now", "--duration", "1h")
    rid = rnd["id"]
    now = datetime.now(UTC)
    async with pg_pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO orders (id, round_id, status, seq, channel, reserved_at, updated_at) "
            "VALUES ($1, $2, 'reserved', 1, $3, $4, $4)",
            [(f"{rid}-o{i}", rid, ch, now) for i, ch in enumerate(["web", "web", "sms"])],
        )
    report = (await flashsale(env, "round", "report", rid, "--json")).json()
    assert report["by_channel"] == {"web": 2, "mobile": 0, "sms": 1}  # type: ignore[index]
    assert report["orders_per_minute"] == 3  # type: ignore[index]  # all in one minute
    assert sum(p["orders"] for p in report["per_minute"]) == 3  # type: ignore[index]


async def test_numbers_loaded_later_reach_the_armed_round(
    env: dict[str, str], offer: dict[str, Any], inv: Inventory, tmp_path: Any, unique: str
) -> None:

    pool = f"later-{unique}"
    first, second = numbers(2), numbers(1)
    path = tmp_path / "n.txt"
    path.write_text("\n".join(first) + "\n")
    assert (await flashsale(env, "numbers", "load", pool, str(path))).code == 0
    rnd = await create(
        env,
        offer,
        "--stock",
        "2",
        "--starts",
        "now",
        "--duration",
        "1h",
        "--number-choice",
        "--number-pool",
        pool,
    )
    path.write_text(f"{second[0]},88\n")
    loaded = (await flashsale(env, "numbers", "load", pool, str(path), "--json")).json()
    assert loaded["rounds_updated"] == [rnd["id"]]  # type: ignore[index]
    result = await inv.reserve(req(rnd["id"], "b1", number=second[0]))
    assert result.ok, result.code


async def test_concurrent_overlapping_creates_admit_one(
    offer: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    from catalog import RoundInput, RoundOverlap, create_round

    start = datetime(2035, 1, 1, tzinfo=UTC)

    async def attempt(i: int) -> str:
        inp = RoundInput(
            offer_id=offer["id"],
            stock=5,
            starts_at=start + timedelta(minutes=i),
            ends_at=start + timedelta(hours=1, minutes=i),
        )
        async with pg_pool.acquire() as conn:
            try:
                return (await create_round(conn, OP, inp))["id"]
            except RoundOverlap:
                return ""

    created = [rid for rid in await asyncio.gather(*(attempt(i) for i in range(8))) if rid]
    assert len(created) == 1


async def test_sold_out_and_restock_reopens(
    env: dict[str, str], offer: dict[str, Any], pg_pool: asyncpg.Pool, inv: Inventory
) -> None:
    from inventory import ReserveRequest

    rnd = await create(env, offer, "--stock", "2", "--starts", "now", "--duration", "1h")
    rid = rnd["id"]

    def request(i: int) -> ReserveRequest:
        return req(rid, f"b{i}", channel="mobile")

    for i in range(2):
        res = await inv.reserve(request(i))
        assert res.ok, res.code
        assert res.order_id is not None
        assert (await inv.confirm(rid, res.order_id, f"pay-{i}", 2000)).ok
    await arm_due(pg_pool, inv, timedelta(minutes=10))
    report = (await flashsale(env, "round", "report", rid, "--json")).json()
    assert report["status"] == "sold_out"  # type: ignore[index]
    assert report["paid"] == 2  # type: ignore[index]
    assert report["sold_out_at"] is not None  # type: ignore[index]
    assert (await inv.stats(rid)).status == "sold_out"
    refused(await flashsale(env, "round", "pause", rid), "sold_out")
    out = (await flashsale(env, "round", "restock", rid, "1", "--json")).json()
    assert out["status"] == "live"  # type: ignore[index]
    assert (await inv.stats(rid)).status == "live"
    assert (await inv.reserve(request(3))).ok
