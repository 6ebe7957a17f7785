"""The buy flow without HTTP (checkout.flow.Checkout) on the real Redis: reserve, replay, refuse,
pay at once or by the delayed callback, cancel, and another buyer's order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio as aioredis

from checkout import payments
from checkout.flow import (
    PENDING,
    Checkout,
    NoSuchOrder,
    NotPayable,
    ReservationRefused,
    public_order,
)
from checkout.pii import PiiKeys
from checkout.purchase import BuyRequest, InvalidPurchase
from flashsale.core.settings import Settings
from inventory import Inventory
from tests.support.api import arm, body, spec


@pytest.fixture
async def checkout(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[Checkout]:
    inventory = Inventory(redis)
    flow = Checkout(
        inventory,
        redis,
        pii_keys=PiiKeys.derive(settings.pii_key),
        payment_secret=settings.payment_secret,
        callback_delay=0.01,
    )
    yield flow
    await flow.aclose()
    await flow.aclose()  # idempotent
    await inventory.aclose()


def purchase(**overrides: object) -> BuyRequest:
    return msgspec.convert(body(**overrides), BuyRequest).checked()


async def one_order(settings: Settings, checkout: Checkout, rid: str, who: str, key: str) -> str:
    """Round ``rid`` armed with three units and one order of ``who`` reserved in it: its id."""
    await arm(settings, spec(rid, stock=3))
    return (await checkout.reserve(rid, who, key, purchase())).reservation.order_id


async def test_reserve_replay_and_refusal_without_http(
    settings: Settings, checkout: Checkout, unique: str
) -> None:
    rid = f"flow{unique}"
    await arm(settings, spec(rid, stock=1, per_account_limit=5, per_id_limit=5))
    buy = purchase()
    first = await checkout.reserve(rid, "alice", "flow-key-0001", buy)
    assert not first.replay
    assert first.reservation.order_id.startswith(f"{rid}-")
    assert first.reservation.status == "reserved"
    assert first.reservation.amount_due is not None
    assert first.reservation.amount_due.total_fen == 2000
    again = await checkout.reserve(rid, "alice", "flow-key-0001", buy)
    assert again.replay
    assert again.reservation.order_id == first.reservation.order_id

    with pytest.raises(ReservationRefused) as refused:
        await checkout.reserve(rid, "bob", "flow-key-0002", purchase())
    assert (refused.value.code, refused.value.message) == ("sold_out", "sold out")
    assert refused.value.refusal is not None
    assert refused.value.refusal.retriable

    with pytest.raises(ReservationRefused) as missing:
        await checkout.reserve(f"nosuch{unique}", "bob", "flow-key-0003", purchase())
    assert missing.value.code == "not_found"  # not_armed answers not_found


async def test_pay_at_once_then_answer_the_payment_again(
    settings: Settings, checkout: Checkout, unique: str
) -> None:
    order_id = await one_order(settings, checkout, f"flowpay{unique}", "carol", "flow-key-0004")
    paid = await checkout.pay("carol", order_id, instant=True)
    assert (paid.status, paid.late) == ("paid", False)
    again = await checkout.pay("carol", order_id)
    assert again == type(paid)(order_id, "paid", paid.payment_id)
    with pytest.raises(NotPayable):
        await checkout.cancel("carol", order_id)
    shown = await checkout.order("carol", order_id)
    assert shown["status"] == "paid"
    assert "id_hash" in shown
    assert "id_hash" not in public_order(shown)


async def test_pay_later_applies_the_signed_callback_itself(
    settings: Settings, checkout: Checkout, unique: str
) -> None:
    order_id = await one_order(settings, checkout, f"flowcb{unique}", "dan", "flow-key-0005")
    started = await checkout.pay("dan", order_id)
    assert started.status == PENDING
    for _ in range(200):
        if (await checkout.order("dan", order_id))["status"] == "paid":
            break
        await asyncio.sleep(0.02)
    order = await checkout.order("dan", order_id)
    assert (order["status"], order["payment_id"]) == ("paid", started.payment_id)


async def test_callbacks_cancel_and_other_buyers(
    settings: Settings, checkout: Checkout, unique: str
) -> None:
    rid = f"flowx{unique}"
    order_id = await one_order(settings, checkout, rid, "erin", "flow-key-0006")
    with pytest.raises(NoSuchOrder):
        await checkout.order("mallory", order_id)  # another buyer's order is not there
    with pytest.raises(NoSuchOrder):
        await checkout.pay("mallory", order_id, instant=True)
    cancelled = await checkout.cancel("erin", order_id)
    assert cancelled["status"] == "cancelled"
    assert "pii" not in cancelled

    # A callback for an order that never existed: no such order (and no history to ask).
    provider = payments.PaymentProvider(settings.payment_secret)
    callback = provider.confirm(provider.start(f"{rid}-999999", 2000))
    with pytest.raises(NoSuchOrder):
        await checkout.apply_callback(callback.body, callback.signature)
    with pytest.raises(payments.InvalidSignature):
        await checkout.apply_callback(callback.body, "t=1,v1=00")


def test_checked_refuses_what_msgspec_lets_through() -> None:
    # JSON Schema's "$" would accept a final newline; the fullmatch does not.
    with pytest.raises(InvalidPurchase) as bad:
        purchase(number="13800000000\n")
    assert bad.value.field == "number"
    with pytest.raises(InvalidPurchase) as name:
        purchase(real_name="a\u0000b")
    assert name.value.field == "real_name"
    assert "张伟" not in repr(purchase())  # no PII in reprs
