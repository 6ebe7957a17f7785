"""Reserve batch defects: a malformed request never breaks its batch nor makes later orders
reuse an id (validated in Python and again in the script), and one sold-out rule for the
script and the per-worker shortcut: sold_out is transient, never a key's stored outcome."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.exceptions import ResponseError

from flashsale.core.settings import Settings
from inventory import ARMED_ROUNDS, Inventory, RoundKeys
from inventory.models import RESERVE_ITEM
from inventory.refusals import CODES
from inventory.scripts import script
from inventory.service import _invalid
from tests.support.inventory import events, make_spec, req
from tests.support.soldout import until_known

BAD_FIELDS: list[dict[str, Any]] = [
    {"channel": 5},
    {"agreement_version": None},
    {"number": 123},
    {"number": ""},
    {"pii": {"photo": object()}},
    {"pii": {"name": "\ud800"}},  # a lone surrogate: not encodable
    {"pii": ["not", "a", "dict"]},
    {"buyer_id": b"bytes-buyer"},
    {"buyer_id": 5},
    {"buyer_id": ""},
    {"idempotency_key": None},
    {"idempotency_key": "\udfff"},
    {"id_hash": None},
    {"quantity": "1"},
    {"quantity": True},
    {"quantity": 1.0},
    {"quantity": 10**20},
    {"round_id": 7},
]


def bad(rid: str, buyer: str, **over: Any) -> Any:
    """A request with a wrong-typed field, as a library caller could build it."""
    return dataclasses.replace(req(rid, buyer), **over)


@pytest.mark.parametrize(
    "over", BAD_FIELDS, ids=lambda o: f"{next(iter(o))}-{BAD_FIELDS.index(o)}"
)  # ids without reprs: an object()'s address differs per process (pytest-xdist compares ids)
async def test_wrong_typed_request_is_invalid_and_takes_nothing(
    redis: aioredis.Redis, unique: str, over: dict[str, Any]
) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)
    await inv.arm(make_spec(rid))
    request = bad(rid, "b1", **over)
    assert _invalid(request)
    res = await inv.reserve(request)
    assert (res.ok, res.code) == (False, "invalid_request")
    stats = await inv.stats(rid)
    assert (stats.left, stats.held, stats.orders) == (10, 0, 0)
    assert await events(redis, rid) == []


async def test_batch_mixing_good_and_bad_requests(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)
    await inv.arm(make_spec(rid, stock=100, per_account_limit=5, per_id_limit=5))
    batch = []
    for i, over in enumerate(BAD_FIELDS):
        batch.append(req(rid, f"good{i}"))
        batch.append(bad(rid, f"bad{i}", **over))
    results = await inv._reserve_batch(rid, batch)  # one script call, as the batcher makes it
    good, wrong = results[0::2], results[1::2]
    assert all(r.ok for r in good), good
    assert all(r.code == "invalid_request" for r in wrong), wrong
    first_ids = [r.order_id for r in good]
    assert len(set(first_ids)) == len(good)
    later = await asyncio.gather(*(inv.reserve(req(rid, f"later{i}")) for i in range(5)))
    later_ids = {r.order_id for r in later}
    assert all(r.ok for r in later)
    assert not later_ids & set(first_ids)  # no id is ever handed out twice
    stats = await inv.stats(rid)
    assert stats.orders == len(good) + 5 == len(await inv.order_ids(rid))
    assert stats.held == len(good) + 5


async def test_script_checks_each_item_before_writing(redis: aioredis.Redis, unique: str) -> None:
    """A caller bypassing the Python checks: the script answers invalid_request for the
    malformed items, processes the good ones, and its order counter never falls behind."""
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)
    await inv.arm(make_spec(rid, stock=50, per_account_limit=5, per_id_limit=5))
    pii = orjson.dumps({"name": "Zhang San"}).decode()

    def item(buyer: Any, **over: Any) -> list[Any]:
        base = {"buyer_id": buyer, "id_hash": f"id-{buyer}", "quantity": 1, "key": "k",
                "fingerprint": "fp", "channel": "web", "agreement_version": "v1", "number": "",
                "pii": pii}  # fmt: skip
        base.update(over)
        return [base[name] for name in RESERVE_ITEM]  # the script's compact item form

    malformed: list[Any] = [
        item(5),  # buyer not a string: `#buyer` made the old script fail midway
        item("m1", quantity="1"),
        item("m2", channel=5),
        item("m3", agreement_version=None),
        item("m4", number=123),
        item("m5", pii="not json"),
        item("m6", pii={"name": "x"}),
        item("m7", key=None),
        item(None),
        "not a request",
        7,
        [],
    ]
    raw: list[Any] = []
    for i, m in enumerate(malformed):
        raw += [item(f"g{i}"), m]
    keys = RoundKeys(rid).script_keys()
    rows, _ = await script("reserve")(redis, keys, [rid, orjson.dumps({"items": raw})])
    codes = [r[0].decode() for r in rows]
    assert codes[0::2] == [""] * len(malformed)
    assert codes[1::2] == ["invalid_request"] * len(malformed)
    ids = [r[1].decode() for r in rows[0::2]]
    assert ids == [f"{rid}-{n}" for n in range(1, len(malformed) + 1)]
    nxt = await inv.reserve(req(rid, "after"))
    assert nxt.order_id == f"{rid}-{len(malformed) + 1}"
    stats = await inv.stats(rid)
    assert (stats.orders, stats.held, stats.left) == (
        len(malformed) + 1,
        len(malformed) + 1,
        50 - len(malformed) - 1,
    )
    assert len(await events(redis, rid)) == len(malformed) + 1
    # a batch that is not a list at all fails before writing anything
    with pytest.raises(ResponseError, match="not a JSON array"):
        await script("reserve")(redis, keys, [rid, orjson.dumps({"items": 5})])
    with pytest.raises(ResponseError, match="not a JSON object"):
        await script("reserve")(redis, keys, [rid, b"5"])
    assert (await inv.stats(rid)).orders == len(malformed) + 1


async def stored(redis: aioredis.Redis, rid: str, buyer: str, key: str) -> bytes | None:
    field = f"{len(buyer.encode())}:{buyer}:{key}"
    return await redis.hget(RoundKeys(rid).idempotency, field)  # type: ignore[no-any-return,misc]


async def test_sold_out_is_never_stored_so_a_retry_can_buy(
    redis: aioredis.Redis, unique: str
) -> None:
    """The script path: sold_out is not the key's outcome; once a unit comes back, a retry
    with the same Idempotency-Key buys it."""
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)  # no shortcut: every answer from the script
    await inv.arm(make_spec(rid, stock=1))
    winner = await inv.reserve(req(rid, "b1"))
    assert winner.ok
    refused = await inv.reserve(req(rid, "b2"))
    assert (refused.code, refused.replay) == ("sold_out", False)
    assert await stored(redis, rid, "b2", "k-b2") is None
    again = await inv.reserve(req(rid, "b2"))
    assert (again.code, again.replay) == ("sold_out", False)
    assert winner.order_id is not None
    assert await inv.release(rid, winner.order_id, "cancelled")
    retry = await inv.reserve(req(rid, "b2"))
    assert retry.ok, retry
    assert not retry.replay
    assert retry.order_id == f"{rid}-2"
    # a success is stored: its retry replays it, even sold out
    replay = await inv.reserve(req(rid, "b2"))
    assert (replay.ok, replay.replay, replay.order_id) == (True, True, retry.order_id)
    assert (await inv.reserve(req(rid, "b3"))).code == "sold_out"


async def test_shortcut_and_script_give_one_answer(redis: aioredis.Redis, unique: str) -> None:
    """The same (buyer, key) sequence answered by a worker using the sold-out shortcut and by
    one always running the script: the same codes, replays and orders."""
    rid = f"t{unique}"
    fast = Inventory(redis, sold_out_ttl=30)  # the shortcut stays on for the whole test
    slow = Inventory(redis, sold_out_ttl=0)
    await slow.arm(make_spec(rid, stock=2, per_account_limit=1, per_id_limit=1))
    won = await slow.reserve(req(rid, "w"))
    over = await slow.reserve(req(rid, "w", idempotency_key="k-w-2"))
    assert over.code == "limit_reached"  # stored: this buyer's outcome
    assert (await slow.reserve(req(rid, "x"))).ok  # the last unit
    assert (await fast.reserve(req(rid, "y"))).code == "sold_out"  # the script: learn it
    await until_known(fast, rid)

    def answer(r: Any) -> tuple[Any, ...]:
        return (r.code, r.replay, r.order_id)

    for who, key in (("w", "k-w"), ("w", "k-w-2"), ("y", "k-y"), ("z", "k-z")):
        calls = fast.batch_stats.calls
        a = await fast.reserve(req(rid, who, idempotency_key=key))
        b = await slow.reserve(req(rid, who, idempotency_key=key))
        assert answer(a) == answer(b), (who, key)
        shortcut = fast.batch_stats.calls == calls
        # the shortcut answers only what the script would (no stored outcome, sold out)
        assert shortcut == (a.code == "sold_out"), (who, key)
    assert answer(await fast.reserve(req(rid, "w"))) == (None, True, won.order_id)
    for who in ("y", "z"):
        assert await stored(redis, rid, who, f"k-{who}") is None
    # units come back: both the shortcut's and the script's sold-out keys can buy once the
    # round's sold-out lease ends (here: made to end now)
    assert won.order_id is not None
    assert await slow.release(rid, won.order_id, "cancelled")
    assert (await fast.reserve(req(rid, "y"))).code == "sold_out"  # the lease holds
    await redis.hset(RoundKeys(rid).sold_out, "until", 0)  # type: ignore[misc]
    fast._forget_sold_out(rid)
    assert (await fast.reserve(req(rid, "y"))).ok
    assert (await slow.reserve(req(rid, "z"))).code == "sold_out"  # one unit came back


# every code point, surrogates (Cs), private use, RTL marks and emoji included; long strings too
ALL_CHARS = st.characters(codec=None, exclude_categories=())
texts = (
    st.text(ALL_CHARS, max_size=40)
    | st.text(ALL_CHARS, min_size=300, max_size=3000)
    | st.sampled_from(["web", "v1", "\ud800", "\u202e", "\U0001f600", "\ue000", "\x00"])
)
request_strategy = st.fixed_dictionaries({
    "buyer_id": texts,
    "idempotency_key": texts,
    "channel": texts,
    "agreement_version": texts,
    "id_hash": texts,
    "number": st.none() | texts,
    "quantity": st.integers(-2, 3) | st.sampled_from([10**20, 1.5, "1", None, True]),
    "pii": st.dictionaries(texts, texts | st.integers() | st.none(), max_size=3),
})  # fmt: skip


@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(request_strategy, min_size=1, max_size=12))
def check_arbitrary_batches(redis_url: str, batch: list[dict[str, Any]]) -> None:
    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_url)
        rid = f"t{uuid.uuid4().hex[:10]}"
        inv = Inventory(client, sold_out_ttl=0)
        try:
            await inv.arm(make_spec(rid, number_choice=True, channels=("web", "mobile")))
            reqs = [bad(rid, "placeholder", **fields) for fields in batch]
            results = await inv._reserve_batch(rid, reqs)
            assert len(results) == len(reqs)
            for r, res in zip(reqs, results, strict=True):
                assert res.ok or res.code in CODES, res
                if _invalid(r):
                    assert res.code == "invalid_request"
            ids = [res.order_id for res in results if res.ok and not res.replay]
            assert len(ids) == len(set(ids))
            after = await inv.reserve(req(rid, "after"))
            assert after.ok, after
            assert after.order_id not in ids
            assert (await inv.stats(rid)).orders == len(ids) + 1
        finally:
            await client.delete(*RoundKeys(rid).script_keys())
            await client.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
            await client.aclose()

    asyncio.run(scenario())


async def test_arbitrary_text_never_breaks_a_batch(settings: Settings) -> None:
    """Library callers with arbitrary Unicode (surrogates, private use, RTL marks, emoji, long
    strings) and wrong types: every request gets its own answer, ids are never reused."""
    await asyncio.to_thread(check_arbitrary_batches, settings.redis_url)
