"""The one refusal table: the scripts can only name its codes, reserve and a late payment refuse
through one check, and every consumer (API, storefront, load tests) reads the same rows."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from flashsale.front.errors import STATUS
from inventory import Inventory
from inventory.refusals import ANSWER_CODES, CODES, REFUSALS, RefusalCode
from inventory.scripts import LuaScript, prelude, script
from tests.support.inventory import events, make_spec, req

LUA = resources.files("inventory").joinpath("lua")
SCRIPTS = sorted(p.name[:-4] for p in LUA.iterdir() if p.name.endswith(".lua") and p.name[0] != "_")


def lua_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in LUA.iterdir() if p.name.endswith(".lua")}


def test_every_code_a_script_names_is_in_the_table() -> None:
    named: set[str] = set()
    for name, source in lua_sources().items():
        named |= set(re.findall(r"\bR\.(\w+)", source))
        # A code is never typed as a string literal; only round statuses are compared as text.
        for m in re.finditer(r"'(\w+)'", source):
            if m.group(1) in CODES:
                before = source[max(0, m.start() - 14) : m.start()]
                assert re.search(r"status [=~]= $", before), (name, m.group(0), before)
    assert named <= set(CODES), named - set(CODES)
    # reserve.lua and _lib.lua between them can answer every refusal of the table
    assert named == set(CODES)


@pytest.mark.parametrize("name", SCRIPTS)
async def test_every_script_compiles_with_the_generated_prelude(
    redis: aioredis.Redis, name: str
) -> None:
    sha = await redis.script_load(script(name).source)
    assert sha == script(name).sha


async def test_a_code_outside_the_table_is_a_script_error(redis: aioredis.Redis) -> None:
    ok = LuaScript("t.ok", prelude() + "return {R.sold_out, R.number_unknown, ITEM.pii}")
    assert await ok(redis, [], []) == [b"sold_out", b"number_unknown", 9]
    typo = LuaScript("t.typo", prelude() + "return R.sold_ot")
    with pytest.raises(ResponseError, match="no field sold_ot"):
        await typo(redis, [], [])


def test_the_api_answers_every_refusal_with_the_table_status() -> None:
    for r in REFUSALS.values():
        assert STATUS[r.answer] == r.status, r
    assert set(ANSWER_CODES) <= set(STATUS)
    # shoppers are told "taken" for a number the round does not offer, as before
    assert REFUSALS["number_unknown"].answer == "number_taken"
    assert REFUSALS["not_armed"].answer == "not_found"
    assert set(CODES) == {c.value for c in RefusalCode}


def test_stored_refusals_are_never_retriable() -> None:
    for r in REFUSALS.values():
        assert not (r.stored and r.retriable), r
    assert not REFUSALS["sold_out"].stored


# -- one check for reserve and late payment ------------------------------------------------

Setup = Callable[[Inventory, str], Awaitable[None]]


async def _limit(inv: Inventory, rid: str) -> None:
    assert (await inv.reserve(req(rid, "b1", idempotency_key="again"))).ok


async def _number_taken(inv: Inventory, rid: str) -> None:
    assert (await inv.reserve(req(rid, "b2", number="13800000001"))).ok


async def _number_choice_off(inv: Inventory, rid: str) -> None:
    await inv.arm(make_spec(rid, stock=2, per_account_limit=1, per_id_limit=1))


async def _stock_gone(inv: Inventory, rid: str) -> None:
    assert (await inv.reserve(req(rid, "b2"))).ok
    assert (await inv.reserve(req(rid, "b3"))).ok


async def _status_sold_out(inv: Inventory, rid: str) -> None:
    await inv.set_status(rid, "sold_out")


CASES: dict[str, tuple[bool, Setup, str]] = {
    # case: (the first order chose a number, what happens after its hold expired, the refusal)
    "limit": (False, _limit, "limit_reached"),
    "number_taken": (True, _number_taken, "number_taken"),
    "number_choice_off": (True, _number_choice_off, "number_choice_disabled"),
    "stock_gone": (False, _stock_gone, "sold_out"),
    "status_sold_out": (False, _status_sold_out, "sold_out"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_reserve_and_late_payment_refuse_the_same_way(
    redis: aioredis.Redis, unique: str, case: str
) -> None:
    with_number, setup, code = CASES[case]
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)
    await inv.arm(make_spec(rid, stock=2, per_account_limit=1, per_id_limit=1, number_choice=True))
    await inv.load_numbers(rid, ["13800000001", "13800000002"])
    number = "13800000001" if with_number else None
    first = await inv.reserve(req(rid, "b1", number=number))
    assert first.ok
    assert first.order_id is not None
    assert first.amount is not None
    assert await inv.release(rid, first.order_id, "expired")
    await setup(inv, rid)

    fresh = await inv.reserve(req(rid, "b1", number=number, idempotency_key="fresh"))
    assert (fresh.ok, fresh.code) == (False, code)
    late = await inv.confirm(rid, first.order_id, "pay-1", first.amount.total_fen)
    assert (late.ok, late.code, late.refund) == (False, "refund_required", "late_payment")
    refund = [e for e in await events(redis, rid) if e.type == "order.refund_required"]
    assert [(e.order_id, e.data["reason"]) for e in refund] == [(first.order_id, code)]
