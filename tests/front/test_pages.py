"""Pages, the free-numbers endpoint and the ops dashboard JSON, in-process on the real stack."""

from __future__ import annotations

import orjson

from flashsale.core.settings import Settings
from inventory.refusals import LANGUAGES, REFUSALS, storefront_table
from tests.support.api import api_client, arm, body, headers, spec


def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token.reveal()}"}


async def test_pages_and_assets_are_served(settings: Settings) -> None:
    async with api_client(settings) as client:
        for path, marker in (("/", 'id="buy-form"'), ("/ops", 'id="auth-form"')):
            r = await client.get(path)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html")
            assert marker in r.text
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert "http://" not in r.text
            assert "https://" not in r.text
        for asset in ("site.css", "common.js", "store.js", "ops.js"):
            assert (await client.get(f"/static/{asset}")).status_code == 200
        assert (await client.get("/static/nope.js")).status_code == 404


async def test_free_numbers(settings: Settings, unique: str, redis) -> None:  # type: ignore[no-untyped-def]
    from inventory import Inventory

    rid = f"num{unique}"
    await arm(settings, spec(rid, number_choice=True))
    numbers = [f"1390000{i:04d}" for i in range(30)]
    await Inventory(redis).load_numbers(rid, numbers, {numbers[0]: 500})
    plain = f"nonum{unique}"
    await arm(settings, spec(plain))
    async with api_client(settings) as client:
        await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
        r = await client.get(f"/api/rounds/{rid}/numbers?limit=10")
        assert r.status_code == 200, r.text
        got = r.json()["numbers"]
        assert len(got) == 10
        assert {n["number"] for n in got} <= set(numbers)
        assert all(n["surcharge_fen"] == (500 if n["number"] == numbers[0] else 0) for n in got)
        everything = (await client.get(f"/api/rounds/{rid}/numbers?limit=50")).json()["numbers"]
        assert len(everything) == 30
        bad = await client.get(f"/api/rounds/{rid}/numbers?limit=0")
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, "limit")
        off = await client.get(f"/api/rounds/{plain}/numbers")
        assert off.json()["error"]["code"] == "number_choice_disabled"
        missing = await client.get(f"/api/rounds/gone{unique}/numbers")
        assert missing.status_code == 404
        doc = (await client.get("/openapi.json")).json()
        assert "/api/rounds/{round_id}/numbers" in doc["paths"]
        assert "/api/admin/dashboard" in doc["paths"]


async def test_dashboard_requires_the_admin_token(settings: Settings) -> None:
    async with api_client(settings) as client:
        for sent in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="}):
            r = await client.get("/api/admin/dashboard", headers=sent)
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "unauthorized"
            assert "rounds" not in r.json()
        # A buyer token is not an admin token.
        r = await client.get("/api/admin/dashboard", headers=headers(settings, "b", "k" * 8))
        assert r.status_code == 401


async def test_dashboard_figures(settings: Settings, unique: str, pg_pool) -> None:  # type: ignore[no-untyped-def]
    rid = f"dash{unique}"
    await arm(settings, spec(rid, stock=7))
    await pg_pool.execute(
        "INSERT INTO orders (id, round_id, status, seq, updated_at) VALUES "
        "($1, $2, 'paid', 2, now()), ($3, $2, 'reserved', 1, now())",
        f"{rid}-900",
        rid,
        f"{rid}-901",
    )
    async with api_client(settings) as client:
        for i in range(3):
            r = await client.post(
                f"/api/rounds/{rid}/orders",
                json=body(),
                headers=headers(settings, f"d{i}", f"dk-{i}-{unique}"),
            )
            assert r.status_code == 201
        await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
        r = await client.get(f"/api/admin/dashboard?rounds={rid}", headers=admin(settings))
        assert r.status_code == 200, r.text
        snap = r.json()
        assert [x["round_id"] for x in snap["rounds"]] == [rid]
        mine = snap["rounds"][0]
        assert (mine["stocked"], mine["left"], mine["held"], mine["orders"]) == (7, 4, 3, 3)
        assert mine["outbox"]["length"] >= 3
        assert mine["persisted"] == {"paid": 1, "reserved": 1}
        assert mine["name"] == "20-yuan 3G card"  # the snapshot's offer_name
        ful = snap["fulfillment"]
        assert set(ful) == {"shipments", "backlog", "dead_letters"}
        assert ful["backlog"] >= 1  # the paid order above has no shipment
        assert isinstance(ful["shipments"], dict)
        assert isinstance(ful["dead_letters"], int)
        assert snap["postgres"] is True
        assert "kafka_lag" in snap
        assert r.headers["cache-control"] == "no-store"


async def test_storefront_wording_is_served_from_the_refusal_table(settings: Settings) -> None:
    async with api_client(settings) as client:
        page = (await client.get("/")).text
        js = await client.get("/static/refusals.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert page.index("/static/refusals.js") < page.index("/static/store.js")
    table = orjson.loads(js.text.split("const FS_REFUSALS = ", 1)[1].rstrip().rstrip(";"))
    assert table == {lang: storefront_table(lang) for lang in LANGUAGES}
    refusals = {r.answer for r in REFUSALS.values() if r.en.headline}
    assert refusals <= set(table["en"])
    assert table["en"]["number_taken"]["headline"] == "Number taken"
    assert table["en"]["sold_out"] == {"headline": "Sold out", "message": "sold out"}
    assert table["zh-CN"]["number_taken"]["headline"] == "号码已被选走"
