from __future__ import annotations

import asyncio
import time

import orjson
import pytest
import redis.asyncio as aioredis

from checkout.payments import (
    Callback,
    InvalidCallback,
    InvalidPayment,
    InvalidSignature,
    PaymentProvider,
    ReplayedCallback,
    StaleCallback,
    forget_callback,
    sign,
    verify_callback,
)
from flashsale.core.settings import Secret

SECRET = Secret("payment-test-secret")


@pytest.fixture
def provider() -> PaymentProvider:
    return PaymentProvider(SECRET)


async def test_valid_callback_accepted_once(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    payment, callback = provider.pay_now(f"r{unique}-1", 2000)
    event = await verify_callback(SECRET, callback.body, callback.signature, redis)
    assert (event.payment_id, event.order_id, event.amount) == (
        payment.payment_id,
        f"r{unique}-1",
        2000,
    )
    assert event.succeeded
    assert event.currency == "CNY"
    with pytest.raises(ReplayedCallback) as caught:
        await verify_callback(SECRET, callback.body, callback.signature, redis)
    assert caught.value.code == "replayed_callback"


async def test_second_signed_callback_for_same_payment_refused(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    payment = provider.start(f"r{unique}-1", 100)
    await verify_callback(SECRET, *_parts(provider.confirm(payment)), redis)
    with pytest.raises(ReplayedCallback):
        await verify_callback(SECRET, *_parts(provider.confirm(payment)), redis)


async def test_concurrent_replays_accept_one(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    _, callback = provider.pay_now(f"r{unique}-1", 100)
    results = await asyncio.gather(
        *(verify_callback(SECRET, callback.body, callback.signature, redis) for _ in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ReplayedCallback) for r in results if isinstance(r, Exception))


async def test_forget_lets_the_retry_in(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    _, callback = provider.pay_now(f"r{unique}-1", 100)
    event = await verify_callback(SECRET, callback.body, callback.signature, redis)
    await forget_callback(redis, event)
    assert await verify_callback(SECRET, callback.body, callback.signature, redis) == event


def _parts(callback: Callback) -> tuple[bytes, str]:
    return callback.body, callback.signature


async def test_forged_signature_refused(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    _, callback = provider.pay_now(f"r{unique}-1", 100)
    forged = PaymentProvider(Secret("attacker")).pay_now(f"r{unique}-1", 100)[1]
    with pytest.raises(InvalidSignature) as caught:
        await verify_callback(SECRET, forged.body, forged.signature, redis)
    assert caught.value.code == "invalid_signature"
    t = callback.signature.split(",")[0]
    for header in (
        "",
        "garbage",
        t,
        "v1=" + "0" * 64,
        f"{t},v1={'0' * 64}",
        f"{t},v0=abc",
        callback.signature.upper(),
    ):
        with pytest.raises(InvalidSignature):
            await verify_callback(SECRET, callback.body, header, redis)
    # the genuine one is still good: refusals do not burn the payment
    await verify_callback(SECRET, callback.body, callback.signature, redis)


async def test_altered_body_refused(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    _, callback = provider.pay_now(f"r{unique}-1", 100)
    event = orjson.loads(callback.body)
    for change in ({"amount": 1}, {"order_id": f"r{unique}-2"}, {"type": "payment.failed"}):
        altered = orjson.dumps({**event, **change})
        with pytest.raises(InvalidSignature):
            await verify_callback(SECRET, altered, callback.signature, redis)
    with pytest.raises(InvalidSignature):
        await verify_callback(SECRET, callback.body + b" ", callback.signature, redis)


async def test_altered_timestamp_refused(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    _, callback = provider.pay_now(f"r{unique}-1", 100)
    v1 = callback.signature.split(",")[1]
    with pytest.raises(InvalidSignature):
        await verify_callback(SECRET, callback.body, f"t={int(time.time()) + 1},{v1}", redis)


async def test_stale_and_future_refused(redis: aioredis.Redis, unique: str) -> None:
    now = time.time()
    old = PaymentProvider(SECRET, clock=lambda: now - 301).pay_now(f"r{unique}-1", 100)[1]
    with pytest.raises(StaleCallback) as caught:
        await verify_callback(SECRET, old.body, old.signature, redis)
    assert caught.value.code == "stale_callback"
    ahead = PaymentProvider(SECRET, clock=lambda: now + 301).pay_now(f"r{unique}-2", 100)[1]
    with pytest.raises(StaleCallback):
        await verify_callback(SECRET, ahead.body, ahead.signature, redis)
    edge = PaymentProvider(SECRET, clock=lambda: now - 250).pay_now(f"r{unique}-3", 100)[1]
    assert await verify_callback(SECRET, edge.body, edge.signature, redis, now=now)


async def test_rotated_secrets_any_v1_matches(
    redis: aioredis.Redis, provider: PaymentProvider, unique: str
) -> None:
    _, callback = provider.pay_now(f"r{unique}-1", 100)
    t, v1 = callback.signature.split(",")
    header = f"{t},v1={'f' * 64},{v1}"
    assert await verify_callback(SECRET, callback.body, header, redis)


async def test_signed_but_invalid_body(redis: aioredis.Redis) -> None:
    now = int(time.time())
    for body in (
        b"not json",
        b"[1]",
        b'{"id": "evt_1"}',
        orjson.dumps(
            {
                "id": "e",
                "type": "payment.refunded",
                "payment_id": "p",
                "order_id": "o",
                "amount": 1,
                "currency": "CNY",
                "created": now,
            }
        ),
    ):
        with pytest.raises(InvalidCallback):
            await verify_callback(SECRET, body, sign(SECRET, body, now), redis)


def test_start_validates_and_repr_hides_secret(provider: PaymentProvider) -> None:
    assert provider.start("r1-1", 1).payment_id.startswith("pay_")
    for order_id, amount, field in (
        ("", 1, "order_id"),
        ("r1-1", 0, "amount"),
        ("r1-1", 1.5, "amount"),
        ("r1-1", True, "amount"),
    ):
        with pytest.raises(InvalidPayment) as caught:
            provider.start(order_id, amount)  # type: ignore[arg-type]
        assert (caught.value.code, caught.value.field) == ("invalid_request", field)
    assert SECRET.reveal() not in repr(provider)
    assert SECRET.reveal() not in str(provider)
