from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from flashsale.core.settings import Secret
from flashsale.front import otp
from flashsale.front.otp import (
    Cooldown,
    InvalidCode,
    InvalidPhone,
    Locked,
    NoActiveCode,
    OtpPolicy,
    RateLimited,
    WrongCode,
    request_code,
    verify_code,
)

KEY = Secret("otp-test-key")
FAST = OtpPolicy(cooldown=0, max_sends=100)


@pytest.fixture
def phone() -> str:
    return f"13{random.randrange(10**9):09d}"


async def test_right_code_once_gives_stable_buyer_id(redis: aioredis.Redis, phone: str) -> None:
    sent = await request_code(redis, phone, key=KEY, policy=FAST)
    assert sent.code is not None
    assert sent.code not in repr(sent)
    buyer = await verify_code(redis, phone, sent.code, key=KEY, policy=FAST)
    assert buyer == otp.buyer_id_for(phone, KEY)
    assert buyer.startswith("b_")
    assert phone not in buyer
    with pytest.raises(NoActiveCode) as caught:
        await verify_code(redis, phone, sent.code, key=KEY, policy=FAST)
    assert caught.value.code == "code_expired"
    again = await request_code(redis, f"+86 {phone[:3]}-{phone[3:]}", key=KEY, policy=FAST)
    assert again.code is not None
    assert await verify_code(redis, phone, again.code, key=KEY) == buyer


async def test_code_is_stored_hashed(redis: aioredis.Redis, phone: str) -> None:
    sent = await request_code(redis, phone, key=KEY)
    assert sent.code is not None
    code_key = otp._keys(otp.buyer_id_for(phone, KEY))[0]
    stored = await redis.hgetall(code_key)
    assert sent.code.encode() not in b"".join(stored.values())
    assert 0 < await redis.ttl(code_key) <= 300
    assert phone not in code_key


async def test_wrong_codes_lock_the_phone(redis: aioredis.Redis, phone: str) -> None:
    policy = OtpPolicy(cooldown=0, max_sends=100, max_attempts=3, lock_ttl=60)
    sent = await request_code(redis, phone, key=KEY, policy=policy)
    assert sent.code is not None
    wrong = f"{(int(sent.code) + 1) % 1_000_000:06d}"
    lefts = []
    for _ in range(2):
        with pytest.raises(WrongCode) as caught:
            await verify_code(redis, phone, wrong, key=KEY, policy=policy)
        lefts.append(caught.value.attempts_left)
    assert lefts == [2, 1]
    with pytest.raises(Locked):
        await verify_code(redis, phone, wrong, key=KEY, policy=policy)
    with pytest.raises(Locked) as caught_lock:  # even the right code, now
        await verify_code(redis, phone, sent.code, key=KEY, policy=policy)
    assert 0 < (caught_lock.value.retry_after or 0) <= 60
    with pytest.raises(Locked):  # and no new code while locked
        await request_code(redis, phone, key=KEY, policy=policy)


async def test_resend_cooldown(redis: aioredis.Redis, phone: str) -> None:
    await request_code(redis, phone, key=KEY)
    with pytest.raises(Cooldown) as caught:
        await request_code(redis, phone, key=KEY)
    assert caught.value.code == "otp_cooldown"
    assert 0 < (caught.value.retry_after or 0) <= 60


async def test_rate_limit_per_phone(redis: aioredis.Redis, phone: str) -> None:
    policy = OtpPolicy(cooldown=0, max_sends=3, send_window=600)
    for _ in range(3):
        await request_code(redis, phone, key=KEY, policy=policy)
    with pytest.raises(RateLimited) as caught:
        await request_code(redis, phone, key=KEY, policy=policy)
    assert caught.value.code == "rate_limited"
    assert 0 < (caught.value.retry_after or 0) <= 600
    other = f"15{phone[2:]}"
    await request_code(redis, other, key=KEY, policy=policy)  # other phones unaffected


async def test_new_code_replaces_old(redis: aioredis.Redis, phone: str) -> None:
    first = await request_code(redis, phone, key=KEY, policy=FAST)
    second = await request_code(redis, phone, key=KEY, policy=FAST)
    assert first.code is not None
    assert second.code is not None
    if first.code != second.code:
        with pytest.raises(WrongCode):
            await verify_code(redis, phone, first.code, key=KEY)
    assert await verify_code(redis, phone, second.code, key=KEY)


async def test_concurrent_verifies_succeed_exactly_once(redis: aioredis.Redis, phone: str) -> None:
    sent = await request_code(redis, phone, key=KEY)
    assert sent.code is not None
    results = await asyncio.gather(
        *(verify_code(redis, phone, sent.code, key=KEY) for _ in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, str)]
    assert winners == [otp.buyer_id_for(phone, KEY)]
    assert all(isinstance(r, NoActiveCode) for r in results if not isinstance(r, str))


async def test_dev_outbox_and_production_mode(redis: aioredis.Redis, phone: str) -> None:
    sent = await request_code(redis, phone, key=KEY)
    assert sent.code is not None
    messages = await otp.read_outbox(redis, phone=phone)
    assert messages
    assert messages[0]["phone"] == phone
    assert sent.code in messages[0]["text"]
    other = f"18{phone[2:]}"
    quiet = await request_code(redis, other, key=KEY, dev=False)
    assert quiet.code is None
    assert await otp.read_outbox(redis, phone=other) == []


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1234567890",
        "12345678901",
        "23800138000",
        "138001380001",
        "1380013800a",
        "+1 13800138000",
    ],
)
async def test_invalid_phone(redis: aioredis.Redis, bad: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        await request_code(redis, bad, key=KEY)
    assert (caught.value.code, caught.value.field) == ("invalid_request", "phone")


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "12 345"])
async def test_invalid_code_format(redis: aioredis.Redis, phone: str, bad: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        await verify_code(redis, phone, bad, key=KEY)
    assert caught.value.field == "code"


def test_phone_normalisation() -> None:
    assert otp.normalize_phone("+86 138-0013-8000") == "13800138000"
    assert otp.normalize_phone("008613800138000") == "13800138000"
    assert otp.buyer_id_for("13800138000", KEY) != otp.buyer_id_for("13800138000", "other")
