"""The storefront's server side (issue 16), in-process on the real stack: the page in the
shopper's language, its generated texts and error wording (every API error code in both
languages), the buyer's own orders from PostgreSQL, the agreement's full text, and the
Retry-After of a code refused for the SMS limit."""

from __future__ import annotations

import re

import asyncpg
import orjson
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from flashsale.core.settings import Settings
from flashsale.front import otp
from flashsale.front.errors import STATUS
from flashsale.front.pages import i18n
from flashsale.front.pages.messages import MESSAGES
from flashsale.front.pages.routes import STATIC
from inventory.refusals import LANGUAGES, REFUSALS, storefront_table
from tests.support.api import api_client, arm, buyer, reserve, round_client, spec
from tests.support.offer import snapshot
from tests.support.storefront import catalog_offer

TEXT = st.text(st.characters(codec=None, categories=None), max_size=600)


def _js_const(script: str, name: str) -> object:
    start = script.index(f"const {name} = ") + len(f"const {name} = ")
    end = script.index(";\n", start)
    return orjson.loads(script[start:end])


# -- language ---------------------------------------------------------------------------------


@hsettings(max_examples=150, deadline=None)
@given(TEXT, st.one_of(st.none(), TEXT))
def test_negotiate_always_answers_a_language_the_page_speaks(
    header: str, cookie: str | None
) -> None:
    assert i18n.negotiate(header, cookie) in LANGUAGES


def test_negotiate_follows_the_cookie_then_accept_language_then_chinese() -> None:
    assert i18n.negotiate(None) == "zh-CN"
    assert i18n.negotiate("") == "zh-CN"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.negotiate("en;q=0.4, zh-TW;q=0.8") == "zh-CN"
    assert i18n.negotiate("fr-FR, en;q=0.5") == "en"
    assert i18n.negotiate("fr-FR, de") == "zh-CN"
    assert i18n.negotiate("en;q=0, zh;q=0.1") == "zh-CN"
    assert i18n.negotiate("en;q=abc") == "zh-CN"
    assert i18n.negotiate("en-GB", cookie="zh-CN") == "zh-CN"
    assert i18n.negotiate("zh-CN", cookie="en") == "en"
    assert i18n.negotiate("en", cookie="xx") == "en"  # an unknown cookie is ignored


def test_every_text_the_page_names_is_worded_in_both_languages() -> None:
    assert set(MESSAGES) == set(LANGUAGES)
    assert set(MESSAGES["zh-CN"]) == set(MESSAGES["en"])
    keys = i18n.keys((STATIC / "index.html").read_text("utf-8"))
    assert keys
    assert keys <= set(MESSAGES["en"])
    scripts = "".join(p.read_text("utf-8") for p in STATIC.glob("*.js") if p.name != "ops.js")
    named = {k for k in MESSAGES["en"] if f'"{k}"' in scripts}
    asked = set(re.findall(r"\bt\(\"([a-z_]+\.[a-z_.]+)\"", scripts))
    assert asked <= set(MESSAGES["en"]), asked - set(MESSAGES["en"])
    assert named  # the scripts do read the table
    for lang in LANGUAGES:  # placeholders agree between languages
        for key, text in MESSAGES[lang].items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(
                re.findall(r"\{(\w+)\}", MESSAGES["en"][key])
            ), (lang, key)


def test_every_api_error_code_is_worded_in_both_languages() -> None:
    for lang in LANGUAGES:
        table = storefront_table(lang)
        assert set(STATUS) <= set(table), set(STATUS) - set(table)
        assert "network" in table  # the page's own: the request never reached the server
        for code, w in table.items():
            assert w["headline"], (lang, code)
            assert w["message"], (lang, code)
    assert set(storefront_table("zh-CN")) == set(storefront_table("en"))
    assert storefront_table("zh-CN")["sold_out"] == {"headline": "已售罄", "message": "已售罄"}
    for r in REFUSALS.values():  # each refusal row carries both languages
        assert r.en.message
        assert r.zh.message


async def test_the_page_is_served_in_the_shoppers_language(settings: Settings) -> None:
    async with api_client(settings) as client:
        zh = await client.get("/")
        en = await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
        chosen = await client.get(
            "/", headers={"Accept-Language": "en-US", "Cookie": "fs_lang=zh-CN"}
        )
        texts = await client.get("/static/i18n.js")
        refusals = await client.get("/static/refusals.js")
        worker = await client.get("/static/pow-worker.js")
    assert '<html lang="zh-CN">' in zh.text
    assert "获取验证码" in zh.text
    assert "{{" not in zh.text
    assert zh.headers["content-language"] == "zh-CN"
    assert "Accept-Language" in zh.headers["vary"]
    assert '<html lang="en">' in en.text
    assert "Send code" in en.text
    assert '<html lang="zh-CN">' in chosen.text
    assert "worker-src 'self'" in zh.headers["content-security-policy"]
    assert _js_const(texts.text, "FS_I18N") == {k: dict(v) for k, v in MESSAGES.items()}
    table = _js_const(refusals.text, "FS_REFUSALS")
    assert table == {lang: storefront_table(lang) for lang in LANGUAGES}
    assert worker.status_code == 200
    assert zh.text.index("/static/i18n.js") < zh.text.index("/static/common.js")
    assert zh.text.index("/static/refusals.js") < zh.text.index("/static/store.js")


# -- the buyer's orders ------------------------------------------------------------------------


async def test_my_orders_lists_the_buyers_own_orders_from_postgresql_with_live_status(
    settings: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    rid = f"mine{unique}"
    me, other = f"me{unique}", f"other{unique}"
    async with round_client(settings, rid, stock=5, per_account_limit=3) as client:
        assert (await client.get("/api/orders")).status_code == 401
        made = [await reserve(client, settings, rid, me, f"m{i}{unique}") for i in range(2)]
        theirs = await reserve(client, settings, rid, other, f"o{unique}")
        # What the writer stores for each (the pipeline's job, done here): PostgreSQL lags Redis.
        for n, oid in enumerate([*made, theirs]):
            await pg_pool.execute(
                "INSERT INTO orders (id, round_id, status, seq, buyer_id, updated_at, created_at) "
                "VALUES ($1, $2, 'reserved', 1, $3, now(), now() + make_interval(secs => $4))",
                oid,
                rid,
                me if oid in made else other,
                n,
            )
        paid = await client.post(
            f"/api/orders/{made[0]}/pay", json={"instant": True}, headers=buyer(settings, me)
        )
        assert paid.json()["status"] == "paid"
        listed = await client.get("/api/orders", headers=buyer(settings, me))
        assert listed.status_code == 200, listed.text
        assert listed.headers["cache-control"] == "no-store"
        orders = listed.json()["orders"]
        assert [o["order_id"] for o in orders] == [made[1], made[0]]  # newest first, mine only
        assert orders[1]["status"] == "paid"  # live from Redis, not PostgreSQL's "reserved"
        assert orders[0]["amount_due"] == {"price_fen": 2000, "surcharge_fen": 0, "total_fen": 2000}
        assert orders[0]["offer_name"] == "20-yuan 3G card"
        assert "buyer_id" not in orders[0]
        assert "id_hash" not in orders[0]
        nobody = await client.get("/api/orders", headers=buyer(settings, f"new{unique}"))
        assert nobody.json()["orders"] == []


# -- the agreement -----------------------------------------------------------------------------


async def test_the_agreement_text_of_the_rounds_version(
    settings: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    text = "中国联通入网服务协议\n第一条 ……\n第二条 ……"
    version = f"v{unique[:6]}"
    offer_id = await catalog_offer(pg_pool, unique, f"沃派 {unique}", version, text)
    rid, other, plain = f"agr{unique}", f"agx{unique}", f"agp{unique}"
    shown = snapshot(offer_id=offer_id, agreement_version=version)
    await arm(settings, spec(rid, offer_id=offer_id, agreement_version=version, offer=shown))
    await arm(settings, spec(other, offer_id=offer_id, agreement_version="v-old"))
    await arm(settings, spec(plain))
    async with api_client(settings) as client:
        await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
        got = (await client.get(f"/api/rounds/{rid}/agreement")).json()
        assert got == {"round_id": rid, "version": version, "text": text}
        # Another version than the catalog's: no text rather than the wrong one.
        assert (await client.get(f"/api/rounds/{other}/agreement")).json()["text"] is None
        assert (await client.get(f"/api/rounds/{plain}/agreement")).json()["text"] is None
        missing = await client.get(f"/api/rounds/gone{unique}/agreement")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


# -- login -------------------------------------------------------------------------------------


async def test_the_sms_limit_answers_retry_after_in_seconds(
    settings: Settings, redis: aioredis.Redis, unique: str
) -> None:
    phone = "137" + str(int(unique, 16) % 10**8).zfill(8)
    who = otp.buyer_id_for(phone, settings.pii_key)
    await redis.set(f"fs:otp:{{{who}}}:sends", otp.DEFAULT_POLICY.max_sends, ex=3600)
    async with api_client(settings) as client:
        r = await client.post("/api/auth/otp", json={"phone": phone})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert 3500 <= int(r.headers["Retry-After"]) <= 3600  # seconds, not seconds / 1000
