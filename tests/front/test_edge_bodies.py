"""Every other body the API accepts, under arbitrary input (issue 12, "The edge"): the OTP send
and verify bodies, the pay body, the signed payment callback, and raw bodies that are not
valid JSON text (invalid UTF-8, lone surrogates, strings). Each answer is a 2xx, or a 4xx with
a documented code and that code's status; what a callback accepts lands in PostgreSQL as sent.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis

from checkout import payments
from flashsale.core.settings import Settings
from flashsale.front import otp
from flashsale.front.errors import STATUS
from inventory import Inventory
from tests.support.api import api_client, arm, body, buyer, headers, round_client, spec
from tests.support.edge import ALL_CHARS, app_in_portal, json_bytes, run_pipeline, texts

HSETTINGS = hsettings(
    max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts(20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(8), inner, max_size=3),
    max_leaves=8,
)
_PHONE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)


def _answer(response: httpx.Response) -> str | None:
    """``None`` for a 2xx, else the error code (checked to be documented, with its status)."""
    assert response.status_code < 500, response.text
    if response.status_code < 300:
        return None
    error = response.json()["error"]
    assert STATUS[error["code"]] == response.status_code, response.text
    assert isinstance(error["message"], str)
    assert error["message"]
    return str(error["code"])


def _phone_ok(value: object) -> bool:
    if not isinstance(value, str):
        return False
    phone = value.replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix) :]
            break
    return bool(_PHONE.fullmatch(phone))


PHONES = st.one_of(
    JSON_VALUES,
    st.builds(lambda n: f"13{n:09d}", st.integers(0, 10**9 - 1)),
    st.sampled_from(
        ["+86 138-0013-8000", "1380013800\uff10", "13800138000\n", "\u200f13800138000"]
    ),
)


def test_otp_bodies_under_arbitrary_input(settings: Settings) -> None:
    with app_in_portal(settings) as (portal, client):

        @HSETTINGS
        @given(
            phone=PHONES,
            code=st.one_of(JSON_VALUES, st.text(ALL_CHARS, max_size=8)),
            extra=st.dictionaries(texts(8), JSON_VALUES, max_size=2),
            escaped=st.booleans(),
        )
        def otp_round(phone: Any, code: Any, extra: dict[str, Any], escaped: bool) -> None:
            hdrs = {"Content-Type": "application/json"}
            data = {**extra, "phone": phone}
            sent = portal.call(
                client.post("/api/auth/otp", content=json_bytes(data, ascii_only=escaped),
                            headers=hdrs)
            )  # fmt: skip
            code_sent = _answer(sent)
            if code_sent is None:
                assert _phone_ok(phone), phone
            elif code_sent == "invalid_request" and sent.json()["error"].get("field") == "phone":
                assert not _phone_ok(phone), phone
            data = {**extra, "phone": phone, "code": code}
            verified = portal.call(
                client.post("/api/auth/verify", content=json_bytes(data, ascii_only=escaped),
                            headers=hdrs)
            )  # fmt: skip
            if _answer(verified) is None:
                token = verified.json()["token"]
                assert token.isascii()
                assert verified.json()["buyer_id"] == otp.buyer_id_for(
                    otp.normalize_phone(phone), settings.pii_key
                )

        otp_round()


async def test_pay_bodies_under_arbitrary_input(settings: Settings, unique: str) -> None:
    rid = f"pay{unique}"
    await arm(settings, spec(rid, stock=200, per_account_limit=200, per_id_limit=200))
    owners: dict[str, str] = {}
    async with api_client(settings) as client:
        for i in range(20):
            who = f"payer-{unique}-{i}"
            hdrs = headers(settings, who, f"pk-{unique}-{i}")
            r = await client.post(f"/api/rounds/{rid}/orders", json=body(), headers=hdrs)
            assert r.status_code == 201, r.text
            owners[r.json()["order_id"]] = who
    orders = sorted(owners)
    outcomes: list[tuple[str, int]] = []
    with app_in_portal(settings) as (portal, client):

        @HSETTINGS
        @given(
            order=st.sampled_from(orders),
            raw=st.one_of(
                JSON_VALUES.map(lambda v: json_bytes({"instant": v}, ascii_only=False)),
                JSON_VALUES.map(lambda v: json_bytes(v, ascii_only=True)),
                st.binary(max_size=64),
                st.just(b""),
            ),
            ctype=st.sampled_from(["application/json", "text/plain", ""]),
        )
        def pay(order: str, raw: bytes, ctype: str) -> None:
            hdrs = {**buyer(settings, owners[order]), **({"Content-Type": ctype} if ctype else {})}
            r = portal.call(client.post(f"/api/orders/{order}/pay", content=raw, headers=hdrs))
            code = _answer(r)
            outcomes.append((order, r.status_code))
            if code is None:
                assert r.json()["order_id"] == order
                assert r.json()["status"] in ("paid", "pending")

        pay()
    assert {s for _, s in outcomes} & {200, 202}
    inventory_orders = {o: s for o, s in outcomes if s == 200}
    async with api_client(settings) as client:
        for order in inventory_orders:
            seen = await client.get(f"/api/orders/{order}", headers=buyer(settings, owners[order]))
            assert seen.json()["status"] in ("paid", "shipped", "delivered"), seen.text


@pytest.mark.timeout(300)
async def test_signed_callbacks_with_arbitrary_fields(
    settings: Settings, redis: Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    """The provider is simulated, so anything it signs is what it would POST: every field
    arbitrary. A 2xx that paid an order leaves exactly that payment id in PostgreSQL."""
    rid = f"cb{unique}"
    await arm(settings, spec(rid, stock=100, per_account_limit=100, per_id_limit=100))
    async with api_client(settings) as client:
        orders = []
        for i in range(25):
            hdrs = headers(settings, f"cb-{unique}-{i}", f"ck-{unique}-{i}")
            r = await client.post(f"/api/rounds/{rid}/orders", json=body(), headers=hdrs)
            assert r.status_code == 201, r.text
            orders.append(r.json()["order_id"])
    key = settings.payment_secret
    anything = st.one_of(texts(30), JSON_VALUES)
    odd = {  # per field, what an arbitrary value may be
        "id": anything,
        "type": st.one_of(st.just("payment.failed"), anything),
        "payment_id": anything,
        "order_id": anything,
        "amount": st.one_of(st.integers(), anything),
        "currency": anything,
        "created": st.one_of(st.integers(), anything),
    }
    first_payment: dict[str, str] = {}
    counter = itertools.count()

    with app_in_portal(settings) as (portal, client):

        @HSETTINGS
        @given(
            order=st.sampled_from(orders),
            broken=st.sets(st.sampled_from(sorted(odd)), max_size=3),
            data=st.data(),
            escaped=st.booleans(),
        )
        def callback(order: str, broken: set[str], data: st.DataObject, escaped: bool) -> None:
            n = next(counter)
            event: dict[str, Any] = {
                "id": f"evt_{unique}_{n}",
                "type": "payment.succeeded",
                "payment_id": f"pay_{unique}_{n}",
                "order_id": order,
                "amount": 2000,
                "currency": "CNY",
                "created": int(time.time()),
            }
            for name in sorted(broken):
                event[name] = data.draw(odd[name], label=name)
            raw = json_bytes(event, ascii_only=escaped)
            signature = payments.sign(key, raw, int(time.time()))
            r = portal.call(
                client.post(
                    "/api/payments/callback",
                    content=raw,
                    headers={
                        payments.SIGNATURE_HEADER: signature,
                        "Content-Type": "application/json",
                    },
                )
            )
            if _answer(r) is None:
                for name in ("id", "payment_id", "order_id", "currency"):
                    value = event[name]
                    assert isinstance(value, str)
                    assert value.isascii()
                    assert value.isprintable()
                    assert 0 < len(value) <= 100
                answer = r.json()
                if answer.get("status") == "paid" and event["order_id"] in orders:
                    first_payment.setdefault(event["order_id"], event["payment_id"])

        callback()

    assert first_payment, "no callback paid an order"
    inventory = Inventory(redis)
    for order, payment_id in first_payment.items():
        stored = await inventory.order(rid, order)
        assert stored is not None
        assert stored["payment_id"] == payment_id

    async def landed() -> bool:
        n = await pg_pool.fetchval(
            "SELECT count(*) FROM orders WHERE id = ANY($1::text[]) AND payment_id IS NOT NULL "
            "AND reserved_at IS NOT NULL",
            list(first_payment),
        )
        return int(n) == len(first_payment)

    await run_pipeline(settings, redis, pg_pool, rid, landed)
    rows = await pg_pool.fetch(
        "SELECT id, payment_id FROM orders WHERE id = ANY($1::text[])", list(first_payment)
    )
    assert {r["id"]: r["payment_id"] for r in rows} == first_payment


@pytest.mark.parametrize(
    "raw",
    [
        b'"\\ud800"',  # a JSON string (not an object), with a lone surrogate escape
        b'{"real_name": "\\ud800", "address": "x"}',
        b'{"real_name": "\\udc00\\ud800"}',
        b'{"real_name": "\xff"}',  # invalid UTF-8
        b'{"real_name": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8 (CESU)
        b'{"real_name": "\xc0\xaf"}',  # overlong encoding
        b'"just a string"',
        b"[1, 2]",
        b"",
        b"\x00",
        b'{"a": 1} trailing',
    ],
)
async def test_bodies_that_are_not_a_json_object_are_400(
    settings: Settings, redis: Redis, unique: str, raw: bytes
) -> None:
    rid = f"raw{unique}"
    async with round_client(settings, rid, stock=5) as client:
        for url, hdrs in (
            (f"/api/rounds/{rid}/orders", headers(settings, f"raw-{unique}", f"raw-key-{unique}")),
            ("/api/auth/otp", {}),
            ("/api/auth/verify", {}),
        ):
            r = await client.post(
                url, content=raw, headers={**hdrs, "Content-Type": "application/json"}
            )
            assert r.status_code == 400, (url, r.text)
            assert r.json()["error"]["code"] == "invalid_request"
    stats = await Inventory(redis).stats(rid)
    assert (stats.orders, stats.left) == (0, 5)
