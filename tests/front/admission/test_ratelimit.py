"""Rate limits on the buy endpoint, shared by two in-process workers through the real Redis."""

from __future__ import annotations

import uuid

import pytest

from flashsale.core.settings import Settings, SettingsError
from flashsale.front.admission import AdmissionConfig, Limit
from flashsale.front.admission.ratelimit import RateLimiter
from tests.support.admission import admission_client, sync
from tests.support.api import arm, body, headers, spec


def _buy(rid: str) -> str:
    return f"/api/rounds/{rid}/orders"


async def test_buyer_limit_holds_across_two_workers(settings: Settings, unique: str) -> None:
    rid = f"rl{unique}"
    await arm(settings, spec(rid, stock=100, per_account_limit=100, per_id_limit=100))
    config = AdmissionConfig(buyer_limit=Limit(1, 6), ip_limit=None)
    who = f"greedy-{unique}"
    async with admission_client(settings, config) as one, admission_client(settings, config) as two:
        codes = []
        for i in range(4):
            r = await one.post(
                _buy(rid), json=body(), headers=headers(settings, who, f"k1-{i:06d}")
            )
            codes.append(r.status_code)
        await sync(one, two)  # the background exchange, done now
        for i in range(4):
            r = await two.post(
                _buy(rid), json=body(), headers=headers(settings, who, f"k2-{i:06d}")
            )
            codes.append(r.status_code)
            last = r
        assert codes == [201] * 6 + [429] * 2, (codes, last.text)
        assert last.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(last.headers["Retry-After"]) <= 7
        # Someone else, on either worker, is unaffected.
        other = await one.post(
            _buy(rid), json=body(), headers=headers(settings, "calm", "calm-001")
        )
        assert other.status_code == 201


async def test_ip_limit_and_forwarded_for(settings: Settings, unique: str) -> None:
    rid = f"rli{unique}"
    await arm(settings, spec(rid, stock=100))
    config = AdmissionConfig(buyer_limit=None, ip_limit=Limit(1, 3), exempt=(), trusted_proxies=1)
    async with admission_client(settings, config, client_ip="10.0.0.1") as proxy:

        async def from_ip(ip: str, i: int) -> int:
            h = {**headers(settings, f"b{i}-{unique}", f"kip-{i:06d}"), "X-Forwarded-For": ip}
            return (await proxy.post(_buy(rid), json=body(), headers=h)).status_code

        first = [await from_ip("203.0.113.7", i) for i in range(5)]
        assert first == [201, 201, 201, 429, 429]
        assert await from_ip("203.0.113.8", 10) == 201  # another client behind the same proxy


async def test_loopback_is_exempt_by_default_and_under_the_limit_is_unaffected(
    settings: Settings, unique: str
) -> None:
    rid = f"rlx{unique}"
    await arm(settings, spec(rid, stock=50))
    async with admission_client(settings, AdmissionConfig(ip_limit=Limit(1, 1))) as local:
        for i in range(5):  # one IP (loopback), five buyers: the IP limit does not apply
            r = await local.post(
                _buy(rid), json=body(), headers=headers(settings, f"x{i}", f"kx-{i:06d}")
            )
            assert r.status_code == 201, r.text


async def test_sliding_window_counts_and_exchange(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    limit = Limit(10, 10)  # 10 per second
    a = RateLimiter(redis, {f"t{unique}": limit})
    b = RateLimiter(redis, {f"t{unique}": limit})
    name, t = f"t{unique}", 1_000_000.0
    assert [a.check(name, "k", t + 0.01 * i) for i in range(10)] == [0] * 10
    assert a.check(name, "k", t + 0.2) == 1
    await a.sync(t + 0.25)
    assert b.check(name, "k", t + 0.3) == 0  # b did not know yet (the bounded overshoot) ...
    await b.sync(t + 0.35)
    assert b.check(name, "k", t + 0.4) > 0  # ... and does after one exchange
    # Early in the next window the previous window's count still weighs, then fades.
    assert a.check(name, "k", t + 1.05) == 1
    assert [a.check(name, "k", t + 1.5) for _ in range(6)] == [0] * 5 + [1]
    assert a.check(name, str(uuid.uuid4()), t + 0.5) == 0


def test_config_from_env() -> None:
    c = AdmissionConfig.from_env({})
    assert c.buyer_limit == Limit(5, 10)
    assert c.ip_limit == Limit(50, 100)
    assert c.exempt == AdmissionConfig().exempt

    c = AdmissionConfig.from_env(
        {"FLASHSALE_RATE_BUYER": "off", "FLASHSALE_RATE_IP": "20/40", "FLASHSALE_RATE_EXEMPT": ""}
    )
    assert c.buyer_limit is None
    assert c.ip_limit == Limit(20, 40)
    assert c.exempt == ()
    with pytest.raises(SettingsError):
        AdmissionConfig.from_env({"FLASHSALE_RATE_BUYER": "fast"})
