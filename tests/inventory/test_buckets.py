"""Hot-round stock buckets (issue 15, :mod:`inventory._buckets`): a round's stock over B key
spaces with limits, idempotency and sold-out exact across them. The same tests run on a
3-master cluster in :mod:`tests.inventory.test_buckets_on_cluster`."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory import ARMED_ROUNDS, InvalidRequest, Inventory, ReserveResult, RoundKeys
from inventory import _buckets as buckets_mod
from inventory._buckets import bucket_of, route, split, visit
from inventory.keys import ARMED_BUCKETS, MAX_BUCKETS, bucket_space
from inventory.sweeper import sweep_all
from tests.support.edge import ALL_CHARS
from tests.support.inventory import events, make_spec, req

B = 8
PRICE = 2000  # the price of tests/support/offer.py's snapshot, in fen


async def armed(redis: aioredis.Redis, rid: str, buckets: int = B, **over: Any) -> Inventory:
    inv = Inventory(redis, sold_out_ttl=0)
    await inv.arm(make_spec(rid, buckets=buckets, **over))
    return inv


def buyers_of(bucket: int, buckets: int, n: int, prefix: str = "b") -> list[str]:
    """``n`` buyer ids that start at ``bucket``."""
    found: list[str] = []
    i = 0
    while len(found) < n:
        if route(f"{prefix}{i}", buckets) == bucket:
            found.append(f"{prefix}{i}")
        i += 1
    return found


async def expire_all(redis: aioredis.Redis, rid: str, buckets: int = B) -> None:
    """Move every hold's deadline into the past (the clock, as the sweeper sees it)."""
    for b in range(buckets):
        holds = RoundKeys(bucket_space(rid, b)).holds
        for oid in await redis.zrange(holds, 0, -1):
            await redis.zadd(holds, {oid: 0}, xx=True)


async def swept(inv: Inventory, rid: str, buckets: int = B) -> int:
    """One sweep of this round alone: its buckets' expired holds, its own tag's tokens."""
    n = 0
    for space in [rid, *(bucket_space(rid, b) for b in range(buckets))]:
        n += await inv.sweep(space)
    return n


async def used(redis: aioredis.Redis, rid: str, buyer: str) -> int:
    """Units counted against the buyer's account in the round's own tag."""
    return int(await redis.hget(RoundKeys(rid).accounts, buyer) or 0)  # type: ignore[misc]


# -- routing (pure) ----------------------------------------------------------------------------


# every code point (surrogates, private use, RTL marks, emoji), long strings too
BUYERS = st.text(ALL_CHARS, max_size=40) | st.text(ALL_CHARS, min_size=300, max_size=3000)


@settings(max_examples=100, deadline=None)
@given(buyer=BUYERS, n=st.integers(1, MAX_BUCKETS))
def test_routing_is_stable_and_in_range_for_any_buyer(buyer: str, n: int) -> None:
    b = route(buyer, n)
    assert 0 <= b < n
    assert route(buyer, n) == b
    assert sorted(visit(b, n)) == list(range(n))
    assert visit(b, n)[0] == b


def test_routing_does_not_depend_on_the_process() -> None:
    # pinned: Python's hash() is salted per process, BLAKE2b is not
    assert [route(f"buyer-{i}", 8) for i in range(8)] == PINNED_ROUTES


PINNED_ROUTES = [1, 3, 6, 1, 3, 0, 6, 6]


@settings(max_examples=100, deadline=None)
@given(text=BUYERS, n=st.integers(1, 10**6), bucket=st.integers(0, MAX_BUCKETS - 1))
def test_an_order_id_names_its_bucket(text: str, n: int, bucket: int) -> None:
    assert bucket_of(f"r1-{n * MAX_BUCKETS + bucket}") == bucket
    found = bucket_of(text)  # any text a shopper may send as an order id
    assert found is None or 0 <= found < MAX_BUCKETS


@settings(max_examples=100, deadline=None)
@given(units=st.integers(0, 10**9), n=st.integers(1, MAX_BUCKETS))
def test_split_is_even_with_the_remainder_to_the_lowest_buckets(units: int, n: int) -> None:
    parts = split(units, n)
    assert sum(parts) == units
    assert len(parts) == n
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)


# -- arming --------------------------------------------------------------------------------------


async def test_one_bucket_keeps_the_plain_layout(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, buckets=1, stock=3)
    r = await inv.reserve(req(rid, "b1"))
    assert r.order_id == f"{rid}-1"
    assert await redis.hget(RoundKeys(rid).meta, "buckets") is None  # type: ignore[misc]
    assert not await redis.exists(RoundKeys(rid).tokens_due)
    assert not await redis.sismember(ARMED_BUCKETS, bucket_space(rid, 0))  # type: ignore[misc]
    assert (await inv.stats(rid)).left == 2


async def test_arming_spreads_the_stock(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=19)
    assert [s.stocked for s in await inv.bucket_stats(rid)] == [3, 3, 3, 2, 2, 2, 2, 2]
    stats = await inv.stats(rid)
    assert (stats.stocked, stats.left, stats.status) == (19, 19, "live")
    assert await redis.sismember(ARMED_ROUNDS, rid)  # type: ignore[misc]
    assert await redis.smembers(ARMED_BUCKETS) >= {  # type: ignore[misc]
        bucket_space(rid, b).encode() for b in range(B)
    }
    shown = await inv.describe(rid)
    assert shown is not None
    assert (shown["left"], shown["stocked"]) == (19, 19)
    await inv.arm(make_spec(rid, buckets=B, stock=19))  # re-arming never adds stock
    assert (await inv.stats(rid)).stocked == 19


async def test_number_choice_rounds_are_never_bucketed(redis: aioredis.Redis, unique: str) -> None:
    with pytest.raises(InvalidRequest):
        await armed(redis, f"t{unique}", number_choice=True)
    with pytest.raises(InvalidRequest):
        await armed(redis, f"u{unique}", buckets=MAX_BUCKETS + 1)


# -- buying --------------------------------------------------------------------------------------


async def test_many_buyers_never_oversell_and_sell_every_unit(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=13)
    results = await asyncio.gather(*(inv.reserve(req(rid, f"b{n}")) for n in range(200)))
    won = [r for r in results if r.ok]
    assert len(won) == 13  # no oversell, no undersell
    assert {r.code for r in results if not r.ok} == {"sold_out"}
    assert len({r.order_id for r in won}) == 13
    by_bucket = Counter(bucket_of(r.order_id or "") for r in won)
    assert by_bucket == dict(enumerate(split(13, B)))  # every bucket sold its share
    stats = await inv.stats(rid)
    assert (stats.left, stats.held, stats.orders) == (0, 13, 13)
    evs = [e for b in range(B) for e in await events(redis, bucket_space(rid, b))]
    assert {e.round_id for e in evs} == {rid}  # events carry the round, not the bucket
    assert sorted(e.order_id for e in evs) == sorted(r.order_id for r in won)
    await inv.aclose()


async def test_a_drained_bucket_moves_its_buyers_on(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=B)  # one unit per bucket
    crowd = buyers_of(0, B, B + 3)  # everyone starts at bucket 0
    results = [await inv.reserve(req(rid, b)) for b in crowd]
    assert [r.ok for r in results] == [True] * B + [False] * 3  # stock left => never sold out
    assert {bucket_of(r.order_id or "") for r in results[:B]} == set(range(B))
    assert (await inv.stats(rid)).left == 0


async def test_one_buyer_with_many_keys_gets_the_limit_once(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=40, per_account_limit=2, per_id_limit=10)
    results = await asyncio.gather(
        *(inv.reserve(req(rid, "hammer", idempotency_key=f"k{n}", id_hash=f"id{n}"))
          for n in range(30))
    )  # fmt: skip
    assert sum(r.ok for r in results) == 2
    assert {r.code for r in results if not r.ok} == {"limit_reached"}
    assert await used(redis, rid, "hammer") == 2
    await inv.aclose()


async def test_one_id_with_many_accounts_gets_the_limit_once(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=40, per_account_limit=5, per_id_limit=3)
    # accounts that start in different buckets, one ID number
    accounts = [f"acct{n}" for n in range(24)]
    assert len({route(a, B) for a in accounts}) > 3
    results = await asyncio.gather(*(inv.reserve(req(rid, a, id_hash="same")) for a in accounts))
    assert sum(r.ok for r in results) == 3
    assert {r.code for r in results if not r.ok} == {"limit_reached"}
    await inv.aclose()


async def test_replay_goes_to_the_bucket_the_key_went_to(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, buckets=2, stock=2)
    first, second = buyers_of(0, 2, 2)
    taken = await inv.reserve(req(rid, first))  # bucket 0's unit
    assert bucket_of(taken.order_id or "") == 0
    drained = await inv.reserve(req(rid, second))  # bucket 0 drained: moves on to bucket 1
    assert drained.ok
    assert bucket_of(drained.order_id or "") == 1
    assert await inv.release(rid, taken.order_id or "", "cancelled")  # bucket 0 has a unit again
    again = await inv.reserve(req(rid, second))
    assert (again.ok, again.replay, again.order_id) == (True, True, drained.order_id)
    stats = await inv.stats(rid)
    assert (stats.orders, stats.left, stats.held) == (2, 1, 1)
    mismatch = await inv.reserve(req(rid, second, quantity=2))
    assert mismatch.code == "idempotency_mismatch"


async def test_sold_out_everywhere_is_not_stored(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, buckets=3, stock=1)
    holder = await inv.reserve(req(rid, "holder"))
    late = await inv.reserve(req(rid, "late"))
    assert late.code == "sold_out"
    assert await used(redis, rid, "late") == 0
    await inv.release(rid, holder.order_id or "", "cancelled")
    assert (await inv.reserve(req(rid, "late"))).ok  # the same key buys once a unit is back


async def expired(redis: aioredis.Redis, rid: str) -> tuple[Inventory, str]:
    """A round of limit 1 whose buyer b1's order (its id returned) expired and was swept."""
    inv = await armed(redis, rid, stock=B, per_account_limit=1)
    oid = (await inv.reserve(req(rid, "b1"))).order_id or ""
    assert (await inv.reserve(req(rid, "b1", idempotency_key="k2"))).code == "limit_reached"
    await expire_all(redis, rid)
    assert await sweep_all(inv, redis) >= 1  # every armed round's (other tests' too)
    assert await swept(inv, rid) == 0
    return inv, oid


async def test_expiry_returns_the_unit_and_the_limit_once(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv, oid = await expired(redis, rid)
    assert await swept(inv, rid) == 0
    assert (await inv.stats(rid)).released == 1
    assert await inv.release(rid, oid) is False  # already released
    stats = await inv.stats(rid)
    assert (stats.left, stats.held, stats.released) == (B, 0, 1)
    assert await used(redis, rid, "b1") == 0  # the limit token came back, once
    order = await inv.order(rid, oid)
    assert order is not None
    assert (order["status"], order["round_id"]) == ("expired", rid)
    assert (await inv.reserve(req(rid, "b1", idempotency_key="k3"))).ok
    assert await used(redis, rid, "b1") == 1


async def test_paying_a_bucket_order(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=B)
    r = await inv.reserve(req(rid, "b1"))
    paid = await inv.confirm(rid, r.order_id or "", "pay-1", PRICE)
    assert (paid.ok, paid.status, paid.late) == (True, "paid", False)
    assert (await inv.confirm(rid, r.order_id or "", "pay-1", PRICE)).replay
    stats = await inv.stats(rid)
    assert (stats.paid, stats.held, stats.left) == (1, 0, B - 1)
    assert await used(redis, rid, "b1") == 1


async def test_late_payment_re_takes_the_limit(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv, oid = await expired(redis, rid)
    late = await inv.confirm(rid, oid, "pay-1", PRICE)
    assert (late.ok, late.status, late.late) == (True, "paid", True)
    assert await used(redis, rid, "b1") == 1  # counted again
    assert (await inv.reserve(req(rid, "b1", idempotency_key="k2"))).code == "limit_reached"


async def test_late_payment_beyond_the_limit_is_refunded(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv, oid = await expired(redis, rid)
    assert (await inv.reserve(req(rid, "b1", idempotency_key="k3"))).ok  # the limit again
    late = await inv.confirm(rid, oid, "pay-1", PRICE)
    assert (late.ok, late.status, late.refund) == (False, "refund_required", "late_payment")
    assert await used(redis, rid, "b1") == 1  # the refused re-take gave nothing away
    stats = await inv.stats(rid)
    assert (stats.paid, stats.held, stats.refund_required) == (0, 1, 1)


async def test_restock_spreads_over_the_buckets_once(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, buckets=4, stock=4)
    assert await inv.restock(rid, 5, "rs-1") == 9
    assert await inv.restock(rid, 5, "rs-1") == 9  # once per restock id
    assert [s.stocked for s in await inv.bucket_stats(rid)] == [3, 2, 2, 2]


async def test_status_applies_to_every_bucket(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=B)
    await inv.set_status(rid, "paused")
    assert (await inv.reserve(req(rid, "b1"))).code == "paused"
    assert {s.status for s in await inv.bucket_stats(rid)} == {"paused"}
    assert await used(redis, rid, "b1") == 0
    await inv.set_status(rid, "live")
    assert (await inv.reserve(req(rid, "b1"))).ok


# -- a process killed between the limit token and the bucket ----------------------------------


@pytest.fixture
def short_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buckets_mod, "TOKEN_GRACE_MS", 300)
    monkeypatch.setattr(buckets_mod, "CLOCK_MARGIN_MS", 0)


async def take_token(inv: Inventory, rid: str, buyer: str) -> tuple[str, int]:
    """The first script of a reservation alone (its process 'dies' before the bucket's)."""
    r = req(rid, buyer)
    token = f"{len(buyer)}:{buyer}:{r.idempotency_key}"
    item = [
        r.buyer_id, r.id_hash, r.quantity, token, r.fingerprint(), r.channel,
        r.agreement_version, "",
    ]  # fmt: skip
    rows = await inv._bucketed._take_batch(rid, [buckets_mod._Op(rid, item)])
    code, _, until, state = rows[0]
    assert (code, state) == (b"", b"new")
    return token, int(until)


async def dead_token(
    inv: Inventory, rid: str, buyer: str
) -> Callable[[int], Awaitable[ReserveResult]]:
    """``buyer`` took a limit token and its process died: the bucket reserve that would follow."""
    token, until = await take_token(inv, rid, buyer)
    item = buckets_mod.with_token(req(rid, buyer).script_item(), token, until)

    async def in_bucket(bucket: int) -> ReserveResult:
        return await inv._bucket_reserve(rid, bucket, item)

    return in_bucket


@pytest.mark.usefixtures("short_tokens")
async def test_tokens_of_a_dead_process_are_resolved_after_their_deadline(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=B, per_account_limit=1)
    never = await dead_token(inv, rid, "b1")  # died before any bucket
    unbound = await dead_token(inv, rid, "b2")  # died after its bucket, before binding
    reserved = await unbound(3)
    assert reserved.ok
    assert (await used(redis, rid, "b1"), await used(redis, rid, "b2")) == (1, 1)
    retry = await inv.reserve(req(rid, "b1"))
    assert retry.code == "retry_later"  # the first attempt is undecided: never a second order
    await asyncio.sleep(0.4)
    late = await never(0)
    assert late.code == "retry_later"  # past its deadline no bucket takes the token
    await sweep_all(inv, redis)
    assert await used(redis, rid, "b1") == 0  # returned, once
    assert await used(redis, rid, "b2") == 1  # kept: its order holds it (bound now)
    assert (await inv.stats(rid)).orders == 1
    again = await inv.reserve(req(rid, "b1"))  # b1's key is fresh again
    assert (again.ok, again.replay) == (True, False)
    replay = await inv.reserve(req(rid, "b2"))  # b2's replays the order of its bucket
    assert (replay.ok, replay.replay, replay.order_id) == (True, True, reserved.order_id)
    await expire_all(redis, rid)
    await sweep_all(inv, redis)
    assert (await used(redis, rid, "b1"), await used(redis, rid, "b2")) == (0, 0)


async def test_sold_out_knowledge_is_per_bucket(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0.3)
    await inv.arm(make_spec(rid, buckets=2, stock=2))
    try:
        a, b, c = buyers_of(0, 2, 3)
        first = await inv.reserve(req(rid, a))
        assert bucket_of(first.order_id or "") == 0
        second = await inv.reserve(req(rid, b))  # bucket 0 is known drained: on to bucket 1
        assert bucket_of(second.order_id or "") == 1
        assert not inv.sold_out_hint(rid)  # bucket 1 not known sold out yet
        assert (await inv.reserve(req(rid, c))).code == "sold_out"
        assert inv.sold_out_hint(rid)  # every bucket known sold out: answered with no I/O
        assert await inv.answer_sold_out(rid, c, f"k-{c}")
        assert not await inv.answer_sold_out(rid, b, f"k-{b}")  # a stored success...
        replay = await inv.reserve(req(rid, b))  # ...still replays from its bucket
        assert (replay.ok, replay.replay, replay.order_id) == (True, True, second.order_id)
        await inv.release(rid, first.order_id or "", "cancelled")
        await asyncio.sleep(0.35)  # the leases lapse: the unit back in bucket 0 sells
        assert (await inv.reserve(req(rid, c))).ok
    finally:
        await inv.aclose()
