"""The pages in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against
a real `flashsale serve`, in English at phone size (414x900): countdown -> buy (a double click
buys once) -> pay; sold out; the ops dashboard refuses without the admin token and shows live
figures with it, fits 1280 px and a phone, and pauses/resumes a round after a confirmation.
The Chinese storefront is test_storefront_browser.py. Screenshots land in
test-artifacts/."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, expect

from flashsale.core import parked
from flashsale.core.parked import ParkedEvent
from flashsale.core.settings import Settings
from inventory import ARMED_ROUNDS, Inventory
from tests.support.api import arm, body, headers, spec
from tests.support.offer import snapshot
from tests.support.ops import live_round
from tests.support.storefront import (
    BROWSER_TESTS,
    PHONE,
    login,
    phone_page,
    shoot,
    wait_round,
)

pytestmark = BROWSER_TESTS
EN = "en-US"


async def test_shopper_waits_buys_once_on_double_click_and_pays(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid = f"web{unique}"
    now = datetime.now(UTC)
    # Opens in five minutes; once the form is filled the marketer brings it forward (re-arming).
    later = spec(rid, stock=5, number_choice=True,
                             starts_at=now + timedelta(minutes=5), ends_at=now + timedelta(hours=1),
                             offer=snapshot(offer_name="Fei Young 3G card", monthly_fee_fen=1900,
                                            gifts=[{"kind": "data", "amount": "1 GB"},
                                                   {"kind": "credit", "amount": 1000}],
                                            agreement_version="v3"))  # fmt: skip
    await arm(settings, later)
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        numbers = [f"1860000{i:04d}" for i in range(6)]
        await Inventory(redis).load_numbers(rid, numbers)
        await wait_round(server, rid)
        page = await phone_page(browser, EN)
        await page.goto(server + "/")
        card = page.locator(f'article[data-round="{rid}"]')
        await expect(card).to_contain_text("Fei Young 3G card")
        await expect(card).to_contain_text("¥20")
        await expect(card).to_contain_text("¥19 / month")
        await expect(card).to_contain_text("1 GB / month")
        await expect(card).to_contain_text("100 minutes / month")
        await expect(card).to_contain_text("1000 yuan credit")
        await expect(card.locator(".countdown")).to_contain_text("Starts in 00:0")
        await card.locator("button").click()
        await expect(page.locator("#login")).to_be_visible()
        await login(page)
        await expect(page.locator("#agreement-version")).to_have_text("v3")
        await page.fill("#real-name", "张伟")
        await page.fill("#id-number", body()["id_number"])
        await page.fill("#address", "北京市朝阳区建国路 88 号")
        await page.check("#agree")
        await page.locator("#numbers input[type=radio]").first.check()
        chosen = await page.locator("#numbers input[type=radio]").first.get_attribute("value")
        button = page.locator("#buy-button")
        await expect(button).to_be_disabled()
        await expect(button).to_contain_text("Starts in")
        await shoot(page, "storefront-countdown-en-phone")
        await arm(settings, replace(later, starts_at=datetime.now(UTC) + timedelta(seconds=2)))
        await expect(button).to_be_enabled()  # at the start, with no reload
        await button.dblclick()  # opens the confirmation sheet once
        await expect(page.locator("#confirm")).to_be_visible()
        # A double click on "confirm" buys once.
        twice = "(b => { b.click(); b.click(); })(document.getElementById('confirm-buy'))"
        await page.evaluate(twice)
        result = page.locator("#result")
        await expect(result).to_have_attribute("data-code", "reserved")
        await expect(result).to_contain_text("Pay before")
        await button.click(force=True)  # a third click after the answer: still one purchase
        buyer = await page.evaluate("sessionStorage.getItem('fs_buyer')")
        inventory = Inventory(redis)
        mine = [
            o for oid in await inventory.order_ids(rid)
            if (o := await inventory.order(rid, oid)) and o["buyer_id"] == buyer
        ]  # fmt: skip
        assert len(mine) == 1
        assert mine[0]["number"] == chosen
        assert mine[0]["channel"] == "mobile"  # a phone-sized screen
        assert mine[0]["agreement_version"] == "v3"
        assert (await inventory.stats(rid)).orders == 1

        await page.click("#pay-button")
        await expect(page.locator("#order")).to_have_attribute("data-status", "paid")
        await expect(page.locator("#order-status")).to_have_text("Paid")
        await expect(page.locator("#order-view")).to_contain_text(mine[0]["order_id"])
        await shoot(page, "storefront-paid-en-phone")
        assert (await inventory.order(rid, mine[0]["order_id"]))["status"] == "paid"  # type: ignore[index]

        phone = await phone_page(browser, EN)
        await phone.goto(server + "/")
        await expect(phone.locator(f'article[data-round="{rid}"]')).to_be_visible()
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "no horizontal scrolling on a phone"
        await phone.locator(f'article[data-round="{rid}"] button').click()
        await shoot(phone, "storefront-phone-en")
    finally:
        await redis.aclose()


async def test_sold_out_round_shows_sold_out(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    empty, last = f"empty{unique}", f"last{unique}"
    await arm(settings, spec(empty, stock=0))
    await arm(settings, spec(last, stock=1))
    await wait_round(server, last)
    page = await phone_page(browser, EN)
    await page.goto(server + "/")
    gone = page.locator(f'article[data-round="{empty}"]')
    await expect(gone.locator(".badge")).to_have_text("Sold out")
    await expect(gone.locator("button")).to_be_disabled()
    await expect(gone.locator("button")).to_have_text("Sold out")

    # The last unit goes to someone else while this shopper fills the form.
    await page.locator(f'article[data-round="{last}"] button').click()
    await login(page)
    await page.fill("#real-name", "李娜")
    await page.fill("#id-number", body()["id_number"])
    await page.fill("#address", "上海市浦东新区世纪大道 100 号")
    await page.check("#agree")
    await page.click("#buy-button")
    await expect(page.locator("#confirm")).to_be_visible()
    async with httpx.AsyncClient(base_url=server) as http:
        rival = headers(settings, f"rival{unique}", f"rival-{unique}")
        r = await http.post(f"/api/rounds/{last}/orders", json=body(), headers=rival)
        assert r.status_code == 201
    await page.click("#confirm-buy")
    result = page.locator("#result")
    await expect(result).to_have_attribute("data-code", "sold_out")
    await expect(result).to_contain_text("Sold out")
    await shoot(page, "storefront-sold-out-en-phone")


async def test_dashboard_refuses_without_token_and_shows_live_figures(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid = f"ops{unique}"
    await arm(settings, spec(rid, stock=50))
    await wait_round(server, rid)
    page = await phone_page(browser, EN)
    await page.goto(server + f"/ops?rounds={rid}")
    await expect(page.locator("#auth-form")).to_be_visible()
    await expect(page.locator("#dash")).to_be_hidden()
    status = await page.evaluate("fetch('/api/admin/dashboard').then(r => r.status)")
    assert status == 401
    await page.fill("#token", "definitely-not-the-token")
    await page.click("#auth-form button")
    await expect(page.locator("#auth-error")).to_contain_text("Refused")
    await expect(page.locator("#dash")).to_be_hidden()

    await page.fill("#token", settings.admin_token.reveal())
    await page.click("#auth-form button")
    card = page.locator(f'#rounds article[data-round="{rid}"]')
    left = card.locator('[data-kpi="left"]')
    await expect(left).to_have_text("50")
    assert (
        await page.evaluate("sessionStorage.getItem('fs_admin')") == settings.admin_token.reveal()
    )
    async with httpx.AsyncClient(base_url=server) as http:
        for i in range(7):
            who = headers(settings, f"o{i}{unique}", f"ops-{i}-{unique}")
            r = await http.post(f"/api/rounds/{rid}/orders", json=body(), headers=who)
            assert r.status_code == 201
    await expect(left).to_have_text("43")  # live: polled every second
    await expect(card.locator('[data-kpi="orders"]')).to_have_text("7")
    await expect(card.locator('[data-kpi="held"]')).to_have_text("7")
    await expect(card.locator("svg.spark polyline")).to_have_count(2)
    # A parked pipeline event shows in the pipeline panel (count and the latest ones).
    pool = await asyncpg.connect(settings.database_url)
    try:
        await parked.park(
            pool, [ParkedEvent.for_round("sweeper", rid, "script_error", "test", bucket=0)]
        )
    finally:
        await pool.close()
    await expect(page.locator("#parked-latest")).to_contain_text(
        f"sweeper: script_error (round {rid})", timeout=10_000
    )
    assert await page.locator("#parked-open").inner_text() not in ("", "—", "n/a", "0")
    await shoot(page, "ops-en-phone")

    phone = await phone_page(browser, EN)
    await phone.goto(server + f"/ops?rounds={rid}")
    await phone.fill("#token", settings.admin_token.reveal())
    await phone.click("#auth-form button")
    await expect(
        phone.locator(f'#rounds article[data-round="{rid}"] [data-kpi="left"]')
    ).to_have_text("43")
    await shoot(phone, "ops-phone-en")


# The ops dashboard at 1280 px and on a phone, with its round controls (issue 17).
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
# what sticks out on the right, for the failure message
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .slice(0, 8).map((e) => e.tagName + '.' + e.className + '#' + e.id + ' '
    + Math.round(e.getBoundingClientRect().right)).concat([
      getComputedStyle(document.getElementById('rounds')).gridTemplateColumns,
      document.querySelector('main').getBoundingClientRect().width])"""


async def open_dashboard(page: Page, server: str, rids: list[str], token: str) -> None:
    await page.goto(server + "/ops?rounds=" + ",".join(rids))
    await page.fill("#token", token)
    await page.click("#auth-form button")
    for rid in rids:
        await expect(page.locator(f'#rounds article[data-round="{rid}"]')).to_be_visible()


async def test_dashboard_fits_1280_and_a_phone_and_pauses_with_confirmation(
    server: str,
    browser: Browser,
    settings: Settings,
    pg_pool: asyncpg.Pool,
    redis: aioredis.Redis,
    unique: str,
) -> None:
    rids = [await live_round(pg_pool, settings, f"{unique}{i}") for i in range(4)]
    for rid in rids:
        await wait_round(server, rid)
    inv = Inventory(redis)
    try:
        desk = await phone_page(browser, "en-US")
        await desk.set_viewport_size({"width": 1280, "height": 800})
        await desk.goto(server + "/ops")
        await desk.fill("#token", "definitely-not-the-token")
        await desk.click("#auth-form button")
        await expect(desk.locator("#auth-error")).to_contain_text("wrong admin token")

        token = settings.admin_token.reveal()
        await open_dashboard(desk, server, rids, token)
        assert await desk.evaluate(OVERFLOW) <= 0, await desk.evaluate(WIDE)
        await shoot(desk, "ops-en-1280")

        card = desk.locator(f'#rounds article[data-round="{rids[0]}"]')
        asked: list[str] = []

        async def answer(dialog: object) -> None:
            asked.append(dialog.message)  # type: ignore[attr-defined]
            await (dialog.dismiss() if len(asked) == 1 else dialog.accept())  # type: ignore[attr-defined]

        desk.on("dialog", answer)
        await card.get_by_role("button", name="Pause").click()  # dismissed: nothing changes
        await expect(desk.locator("#action-result")).to_have_text("")
        assert (await inv.stats(rids[0])).status == "live"
        await card.get_by_role("button", name="Pause").click()  # accepted
        await expect(card.locator(".badge")).to_have_text("paused")
        assert (await inv.stats(rids[0])).status == "paused"
        assert asked
        assert all(rids[0] in q for q in asked)
        assert "refused" in asked[0]
        await card.get_by_role("button", name="Resume").click()
        await expect(card.locator(".badge")).to_have_text("live")
        assert (await inv.stats(rids[0])).status == "live"

        phone = await phone_page(browser, "en-US")
        await open_dashboard(phone, server, rids, token)
        assert await phone.evaluate(OVERFLOW) <= 0, await phone.evaluate(WIDE)
        await shoot(phone, "ops-en-phone-controls")
    finally:
        for rid in rids:
            await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await inv.aclose()
