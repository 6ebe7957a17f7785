"""The ops dashboard's round controls (issue 17): pause, resume and close for the admin token
only, audited, safe to repeat, refusals with stable codes; a wrong token is told apart from a
missing one; each round's figures carry the stage and the last sale's curve while idle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory import ARMED_ROUNDS, Inventory
from tests.support.api import api_client, headers
from tests.support.inventory import req
from tests.support.ops import live_round


async def test_wrong_token_is_not_a_missing_one(settings: Settings) -> None:
    async with api_client(settings) as client:
        missing = await client.get("/api/admin/dashboard")
        wrong = await client.get("/api/admin/dashboard", headers={"Authorization": "Bearer nope"})
        ctl = await client.post("/api/admin/rounds/x/pause", headers={"Authorization": "Bearer no"})
    assert (missing.status_code, wrong.status_code, ctl.status_code) == (401, 401, 401)
    assert "credential required" in missing.json()["error"]["message"]
    assert wrong.json()["error"]["message"] == "wrong admin token"
    assert ctl.json()["error"]["message"] == "wrong admin token"


async def test_pause_resume_close_from_the_dashboard(
    settings: Settings, pg_pool: asyncpg.Pool, redis: aioredis.Redis, unique: str
) -> None:
    rid = await live_round(pg_pool, settings, unique)
    admin = {"Authorization": f"Bearer {settings.admin_token.reveal()}"}
    inv = Inventory(redis)
    try:
        async with api_client(settings) as client:

            async def act(action: str, who: dict[str, str] = admin) -> tuple[int, dict]:  # type: ignore[type-arg]
                r = await client.post(f"/api/admin/rounds/{rid}/{action}", headers=who)
                return r.status_code, r.json()

            buyer = headers(settings, f"b{unique}", "k" * 8)
            assert (await act("pause", buyer))[0] == 401  # a shopper's token is no admin token
            assert (await inv.stats(rid)).status == "live"
            assert await act("pause") == (
                200, {"round_id": rid, "action": "pause", "changed": True, "status": "paused"}
            )  # fmt: skip
            assert (await inv.stats(rid)).status == "paused"
            assert (await act("pause"))[1]["changed"] is False  # repeating changes nothing
            assert (await act("resume"))[1]["status"] == "live"
            assert (await inv.stats(rid)).status == "live"
            assert (await act("close"))[1]["status"] == "closed"
            code, body = await act("pause")
            assert (code, body["error"]["code"]) == (409, "round_not_changeable")
            code, body = await act("explode")
            assert (code, body["error"]["code"]) == (404, "not_found")
            missing = await client.post(f"/api/admin/rounds/none{unique}/pause", headers=admin)
            assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
        actors = await pg_pool.fetch(
            "SELECT actor, action FROM audit_log WHERE subject = $1 AND actor = 'ops-dashboard' "
            "ORDER BY id",
            f"round:{rid}",
        )
        assert [r["action"] for r in actors][:1] == ["round.pause"]
        assert len(actors) >= 3
    finally:
        await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await inv.aclose()


async def test_idle_round_shows_its_last_sale(
    settings: Settings, pg_pool: asyncpg.Pool, redis: aioredis.Redis, unique: str
) -> None:
    rid = await live_round(pg_pool, settings, unique)
    inv = Inventory(redis)
    try:
        assert (await inv.reserve(req(rid, f"b{unique}"))).ok
        sold_at = datetime.now(UTC) - timedelta(minutes=5)  # a sale five minutes ago, then idle
        await pg_pool.execute(
            "INSERT INTO orders (id, round_id, status, seq, channel, reserved_at, updated_at) "
            "VALUES ($1, $2, 'reserved', 1, 'web', $3, $3), ($4, $2, 'reserved', 1, 'web', $3, $3)",
            f"{rid}-a",
            rid,
            sold_at,
            f"{rid}-b",
        )
        admin = {"Authorization": f"Bearer {settings.admin_token.reveal()}"}
        async with api_client(settings) as client:
            snap = (await client.get(f"/api/admin/dashboard?rounds={rid}", headers=admin)).json()
        (card,) = snap["rounds"]
        assert card["stage"] == "live"
        last = card["last_sale"]
        assert last["orders"] == 2
        assert sum(n for _, n in last["per_second"]) == 2
        assert abs(last["at"] - sold_at.timestamp() * 1000) < 1500
    finally:
        await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await inv.aclose()
