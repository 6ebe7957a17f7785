"""OTP login over HTTP, the rounds listing and the dev SMS page."""

from __future__ import annotations

import re

from flashsale.core.settings import Settings
from tests.support.api import api_client, arm, body, spec


async def test_otp_login_then_buy(settings: Settings, unique: str) -> None:
    phone = "139" + str(int(unique, 16) % 10**8).zfill(8)
    rid = f"otp{unique}"
    await arm(settings, spec(rid, stock=3))
    async with api_client(settings) as client:
        sent = await client.post("/api/auth/otp", json={"phone": phone})
        assert sent.status_code == 200, sent.text
        again = await client.post("/api/auth/otp", json={"phone": phone})
        assert again.status_code == 429
        assert again.json()["error"]["code"] == "otp_cooldown"
        assert int(again.headers["Retry-After"]) >= 1

        sms = (await client.get("/api/dev/sms", params={"phone": phone})).json()["messages"]
        code = re.search(r"\d{6}", sms[0]["text"])
        assert code is not None

        wrong = await client.post(
            "/api/auth/verify",
            json={"phone": phone, "code": "000000" if code[0] != "000000" else "111111"},
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_code"

        ok = await client.post("/api/auth/verify", json={"phone": phone, "code": code[0]})
        assert ok.status_code == 200, ok.text
        token = ok.json()["token"]
        reused = await client.post("/api/auth/verify", json={"phone": phone, "code": code[0]})
        assert reused.json()["error"]["code"] == "code_expired"

        bought = await client.post(
            f"/api/rounds/{rid}/orders",
            json=body(),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"otp-buy-{unique}"},
        )
        assert bought.status_code == 201, bought.text


async def test_bad_phone_is_invalid_request(settings: Settings) -> None:
    async with api_client(settings) as client:
        r = await client.post("/api/auth/otp", json={"phone": "12345"})
        assert r.status_code == 400
        assert r.json()["error"] == {
            "code": "invalid_request",
            "field": "phone",
            "message": r.json()["error"]["message"],
        }


async def test_rounds_listing_has_server_time_and_countdown(
    settings: Settings, unique: str
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    live, later, over = f"live{unique}", f"later{unique}", f"over{unique}"
    await arm(settings, spec(live, stock=7))
    await arm(
        settings,
        spec(later, starts_at=now + timedelta(minutes=5), ends_at=now + timedelta(minutes=50)),
    )
    await arm(settings, spec(over, status="closed"))
    async with api_client(settings) as client:
        listing = (await client.get("/api/rounds")).json()
        assert listing["server_time"] > 0
        by_id = {r["round_id"]: r for r in listing["rounds"]}
        assert by_id[live]["phase"] == "live"
        assert by_id[live]["left"] == 7
        assert by_id[later]["phase"] == "upcoming"
        assert 0 < by_id[later]["starts_in_ms"] <= 5 * 60 * 1000
        assert over not in by_id
        assert by_id[live]["offer"]["gifts"] == [{"kind": "data", "amount": "1 GB"}]
