"""The shopper HTTP API on the real Redis: reserve, replay, view, pay, cancel, bad input."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from checkout.payments import PaymentProvider
from flashsale.core.settings import Settings
from tests.support.api import (
    api_client,
    arm,
    body,
    buyer,
    headers,
    new_id,
    order_client,
    post_order,
    reserve,
    round_client,
    spec,
)
from tests.support.soldout import until_known


async def test_ping_and_openapi_document_every_route(settings: Settings) -> None:
    async with api_client(settings) as client:
        assert (await client.get("/api/ping")).json() == {"ok": True}
        doc = (await client.get("/openapi.json")).json()
        documented = set(doc["paths"])
        routes = {r.path for r in client.app.routes if r.path.startswith("/api/")}  # type: ignore[attr-defined]
        assert routes - {"/api/dev/sms"} <= documented
        codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
        assert {
            "sold_out",
            "limit_reached",
            "not_started",
            "ended",
            "paused",
            "number_taken",
            "invalid_request",
            "unauthorized",
            "agreement_outdated",
        } <= set(codes["code"]["enum"])


async def test_reserve_view_and_replay(settings: Settings, unique: str) -> None:
    rid = f"api{unique}"
    request = body()
    async with round_client(settings, rid, stock=5) as client:
        first = await post_order(client, settings, rid, "alice", "key-alice-1", **request)
        assert first.status_code == 201, first.text
        order = first.json()
        assert order["status"] == "reserved"
        assert order["order_id"].startswith(f"{rid}-")
        assert order["offer"]["price_fen"] == 2000
        assert order["pay_before"] > 0

        again = await post_order(client, settings, rid, "alice", "key-alice-1", **request)
        assert again.status_code == 201
        assert again.json()["order_id"] == order["order_id"]
        assert again.headers["Idempotent-Replayed"] == "true"
        other = await post_order(client, settings, rid, "alice", "key-alice-1")
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_mismatch"

        mine = await client.get(
            f"/api/orders/{order['order_id']}", headers=buyer(settings, "alice")
        )
        assert mine.status_code == 200
        seen = mine.json()
        assert seen["status"] == "reserved"
        assert "id_hash" not in seen
        assert "buyer_id" not in seen
        theirs = await client.get(
            f"/api/orders/{order['order_id']}", headers=buyer(settings, "mallory")
        )
        assert theirs.status_code == 404
        assert theirs.json()["error"]["code"] == "not_found"

        await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
        left = (await client.get(f"/api/rounds/{rid}")).json()
        assert left["left"] == 4
        assert left["phase"] == "live"


async def test_many_buyers_little_stock_over_http(settings: Settings, unique: str) -> None:
    rid = f"crowd{unique}"
    async with round_client(settings, rid, stock=20) as client:

        async def attempt(i: int) -> int:
            r = await post_order(client, settings, rid, f"b{i}", f"key-{i:08d}")
            assert r.status_code in (201, 409), r.text
            if r.status_code == 409:
                assert r.json()["error"]["code"] == "sold_out"
            return r.status_code

        codes = await asyncio.gather(*(attempt(i) for i in range(300)))
        assert codes.count(201) == 20
        stats = await client.app.state.fs.inventory.stats(rid)  # type: ignore[attr-defined]
        assert stats.left == 0
        assert stats.held == 20


async def test_per_id_limit_across_accounts(settings: Settings, unique: str) -> None:
    rid = f"lim{unique}"
    same_id = new_id()
    async with round_client(settings, rid, stock=10) as client:
        ok = await post_order(client, settings, rid, "acct-1", "limit-key-1", id_number=same_id)
        assert ok.status_code == 201
        again = await post_order(client, settings, rid, "acct-2", "limit-key-2", id_number=same_id)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "limit_reached"
        # The same account with another ID is refused too (per-account limit 1).
        third = await post_order(client, settings, rid, "acct-1", "limit-key-3")
        assert third.json()["error"]["code"] == "limit_reached"


BAD = [
    ("malformed JSON", b"{not json", {}, 400, "invalid_request", None),
    ("array body", b"[1, 2]", {}, 400, "invalid_request", None),
    ("quantity zero", body(quantity=0), {}, 400, "invalid_request", "quantity"),
    ("quantity string", body(quantity="1"), {}, 400, "invalid_request", "quantity"),
    ("quantity bool", body(quantity=True), {}, 400, "invalid_request", "quantity"),
    ("quantity above limit", body(quantity=2), {}, 409, "limit_reached", None),
    ("quantity huge", body(quantity=10**9), {}, 400, "invalid_request", "quantity"),
    ("bad checksum", body("11010519491231002Y"), {}, 400, "invalid_request", "id_number"),
    (
        "id as number",
        body(quantity=1) | {"id_number": 110105194912310021},
        {},
        400,
        "invalid_request",
        "id_number",
    ),
    (
        "missing name",
        {k: v for k, v in body().items() if k != "real_name"},
        {},
        400,
        "invalid_request",
        "real_name",
    ),
    ("unknown field", body(price=1), {}, 400, "invalid_request", "price"),
    ("bad channel", body(channel="fax"), {}, 400, "invalid_request", "channel"),
    ("bad number", body(number="12345"), {}, 400, "invalid_request", "number"),
    ("old agreement", body(agreement_version="v2"), {}, 409, "agreement_outdated", None),
    ("number when no choice", body(number="13800138000"), {}, 400, "number_choice_disabled", None),
    ("deep JSON", b'{"a":' * 50 + b"1" + b"}" * 50, {}, 400, "invalid_request", None),
    ("oversize body", b'{"a":"' + b"x" * 40_000 + b'"}', {}, 413, "payload_too_large", None),
    (
        "wrong content type",
        b"quantity=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "no idempotency key",
        body(),
        {"Idempotency-Key": None},
        400,
        "invalid_request",
        "Idempotency-Key",
    ),
    (
        "short idempotency key",
        body(),
        {"Idempotency-Key": "abc"},
        400,
        "invalid_request",
        "Idempotency-Key",
    ),
    ("no token", body(), {"Authorization": None}, 401, "unauthorized", None),
    (
        "forged token",
        body(),
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA"},
        401,
        "unauthorized",
        None,
    ),
]


@pytest.mark.parametrize(
    ("payload", "extra", "status", "code", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
async def test_bad_input_is_a_clear_4xx(
    settings: Settings,
    unique: str,
    payload: object,
    extra: dict[str, str | None],
    status: int,
    code: str,
    field: str | None,
) -> None:
    rid = f"bad{unique}"
    await arm(settings, spec(rid, stock=5))
    sent = {
        **headers(settings, f"buyer-{unique}", f"bad-key-{unique}"),
        "Content-Type": "application/json",
        **extra,
    }
    sent = {k: v for k, v in sent.items() if v is not None}
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    async with api_client(settings) as client:
        r = await client.post(f"/api/rounds/{rid}/orders", content=raw, headers=sent)
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert error["code"] == code
        assert error["message"]
        if field is not None:
            assert error["field"] == field
        stats = await client.app.state.fs.inventory.stats(rid)  # type: ignore[attr-defined]
        assert stats.left == 5  # nothing was taken


async def test_unknown_round_and_window(settings: Settings, unique: str) -> None:
    from datetime import UTC, datetime, timedelta

    soon = f"soon{unique}"
    now = datetime.now(UTC)
    await arm(
        settings, spec(soon, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))
    )
    async with api_client(settings) as client:
        r = await client.post(
            f"/api/rounds/nope{unique}/orders",
            json=body(),
            headers=headers(settings, "x", "unknown-round-1"),
        )
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
        r = await client.post(
            f"/api/rounds/{soon}/orders",
            json=body(),
            headers=headers(settings, "x", "not-started-1"),
        )
        assert (r.status_code, r.json()["error"]["code"]) == (409, "not_started")
        assert (await client.get(f"/api/rounds/nope{unique}")).status_code == 404


async def test_pay_instant_and_by_signed_callback(settings: Settings, unique: str) -> None:
    rid = f"pay{unique}"
    await arm(settings, spec(rid, stock=5))
    async with api_client(settings) as client:
        first = await reserve(client, settings, rid, "p1")
        r = await client.post(
            f"/api/orders/{first}/pay", json={"instant": True}, headers=buyer(settings, "p1")
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"
        assert (await client.get(f"/api/orders/{first}", headers=buyer(settings, "p1"))).json()[
            "status"
        ] == "paid"

        # The provider's callback, as it would be POSTed to us.
        second = await reserve(client, settings, rid, "p2")
        provider = PaymentProvider(settings.payment_secret)
        payment = provider.start(second, 2000)
        callback = provider.confirm(payment)
        forged = provider.confirm(payment)
        r = await client.post(
            "/api/payments/callback",
            content=callback.body,
            headers={**callback.headers, "Flashsale-Signature": "t=1,v1=" + "0" * 64},
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] in ("invalid_signature", "stale_callback")
        r = await client.post(
            "/api/payments/callback", content=callback.body, headers=callback.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "paid"
        replay = await client.post(
            "/api/payments/callback", content=callback.body, headers=callback.headers
        )
        assert replay.status_code == 409
        assert replay.json()["error"]["code"] == "replayed_callback"
        tampered = await client.post(
            "/api/payments/callback",
            content=forged.body.replace(b"2000", b"1"),
            headers=forged.headers,
        )
        assert tampered.json()["error"]["code"] == "invalid_signature"

        # Paying for someone else's order is refused like a missing order.
        r = await client.post(
            f"/api/orders/{second}/pay", json={"instant": True}, headers=buyer(settings, "p1")
        )
        assert r.status_code == 404


async def test_pay_later_confirms_by_callback(settings: Settings, unique: str) -> None:
    async with order_client(settings, f"later{unique}", "l1", stock=5) as (client, order):
        r = await client.post(f"/api/orders/{order}/pay", headers=buyer(settings, "l1"))
        assert r.status_code == 202
        assert r.json()["status"] == "pending"
        for _ in range(50):
            seen = await client.get(f"/api/orders/{order}", headers=buyer(settings, "l1"))
            if seen.json()["status"] == "paid":
                break
            await asyncio.sleep(0.05)
        assert seen.json()["status"] == "paid"


async def test_cancel_returns_units(settings: Settings, unique: str) -> None:
    rid = f"cancel{unique}"
    async with order_client(settings, rid, "c1", stock=1) as (client, order):
        r = await client.post(f"/api/orders/{order}/cancel", headers=buyer(settings, "c1"))
        assert r.status_code == 200
        assert r.json()["status"] == "cancelled"
        again = await client.post(f"/api/orders/{order}/cancel", headers=buyer(settings, "c1"))
        assert again.json()["error"]["code"] == "order_not_payable"
        # The unit is back: another buyer gets it.
        await reserve(client, settings, rid, "c2")


async def test_retried_success_replays_even_when_sold_out(settings: Settings, unique: str) -> None:
    """Invariant 5 under the per-worker sold-out shortcut: a retried success is never
    answered sold out, while other buyers get sold out without running the reserve script."""
    rid = f"replaysold{unique}"
    await arm(settings, spec(rid, stock=1))
    request = body()
    async with api_client(settings) as client:
        inventory = client.app.state.fs.inventory  # type: ignore[attr-defined]
        first = await client.post(
            f"/api/rounds/{rid}/orders",
            json=request,
            headers=headers(settings, "winner", "winner-key-1"),
        )
        assert first.status_code == 201
        loser = await client.post(
            f"/api/rounds/{rid}/orders",
            json=body(),
            headers=headers(settings, "loser", "loser-key-1"),
        )
        assert loser.json()["error"]["code"] == "sold_out"
        await until_known(inventory, rid)
        calls = inventory.batch_stats.calls

        retry = await client.post(
            f"/api/rounds/{rid}/orders",
            json=request,
            headers=headers(settings, "winner", "winner-key-1"),
        )
        assert retry.status_code == 201
        assert retry.json()["order_id"] == first.json()["order_id"]
        assert retry.headers["Idempotent-Replayed"] == "true"

        others = await asyncio.gather(
            *(
                client.post(
                    f"/api/rounds/{rid}/orders",
                    json=body(),
                    headers=headers(settings, f"late{i}", f"late-key-{i}"),
                )
                for i in range(20)
            )
        )
        assert {r.json()["error"]["code"] for r in others} == {"sold_out"}
        # Only the winner's replay ran the script; the twenty late buyers did not.
        assert inventory.batch_stats.calls == calls + 1
