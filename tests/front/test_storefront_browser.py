"""The storefront as a Chinese telecom shopper sees it (issue 16), in Debian's Chromium at phone
size (414x900) against a real ``flashsale serve``: Chinese first with an English switch that
sticks, every visible text translated; login with a resend cooldown, the SMS limit and the
masked phone; the waiting room (queued before the start, admitted, buys; a reload keeps the
place) with the browser check; states that never go stale (expiry, pause, sold out, units back).
The confirmation sheet, PostgreSQL's figures and tracking are in test_storefront_order_browser.py.
Screenshots land in test-artifacts/."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import redis.asyncio as aioredis
from playwright.async_api import Browser, expect

from flashsale.core.settings import Settings
from flashsale.front import otp
from flashsale.front.admission import Policy
from inventory import Inventory
from tests.support.admission import set_policy
from tests.support.api import arm, body, headers, spec
from tests.support.offer import snapshot
from tests.support.storefront import (
    BROWSER_TESTS,
    assert_translated,
    cjk_font,
    login,
    phone_number,
    phone_page,
    shoot,
    wait_round,
)

pytestmark = BROWSER_TESTS

CARD = snapshot(
    offer_name="沃派 3G 校园卡 20 元",
    monthly_fee_fen=1900,
    gifts=[{"kind": "data", "amount": "1 GB"}, {"kind": "credit", "amount": 10}],
    agreement_version="v3",
)


def _card(rid: str) -> str:
    return f'article[data-round="{rid}"]'


async def _fill(page) -> None:  # type: ignore[no-untyped-def]
    await page.fill("#real-name", "张伟")
    await page.fill("#id-number", body()["id_number"])
    await page.fill("#address", "北京市朝阳区建国路 88 号")
    await page.check("#agree")


async def test_chinese_first_english_switch_sticks_and_every_text_is_translated(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    assert cjk_font(), "no Chinese font: `make debian-test` installs fonts-noto-cjk"
    rid = f"zh{unique}"
    await arm(settings, spec(rid, stock=5, hold_seconds=20, offer=CARD))
    await wait_round(server, rid)
    page = await phone_page(browser)
    await page.goto(server + "/")
    card = page.locator(_card(rid))
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await expect(card).to_contain_text("沃派 3G 校园卡 20 元")
    await expect(card.locator(".badge")).to_have_text("抢购中")
    await expect(card).to_contain_text("¥19 / 月")
    await expect(card).to_contain_text("1 GB 流量")
    await expect(card).to_contain_text("话费 10 元")
    await expect(card).to_contain_text("下单后 20 秒内")  # not "0 minutes"
    await expect(card.locator("button")).to_have_text("立即购买")
    await assert_translated(page)
    await card.locator("button").click()
    await expect(page.locator("#login")).to_be_visible()
    await assert_translated(page)
    await shoot(page, "storefront-zh-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 414, "no horizontal scrolling on a phone"

    # A bad phone number gets the page's own message, not the browser's English one.
    await page.fill("#phone", "12345")
    await page.click("#send-code")
    await expect(page.locator("#login-error")).to_contain_text("11 位中国大陆手机号码")

    phone = await login(page)
    await expect(page.locator("#who")).to_have_text(f"已登录：{phone[:3]}****{phone[-4:]}")
    assert phone not in (await page.locator("header.bar").inner_text())
    # The code was just sent: resending waits for the server's cooldown, counting down.
    resend = page.locator("#send-code")
    await expect(resend).to_be_disabled()
    await expect(resend).to_contain_text("秒后可重新获取")
    await expect(page.locator("#buy-form")).to_be_visible()
    await assert_translated(page)

    await page.click("#lang-switch")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(card.locator(".badge")).to_have_text("On sale")
    await expect(page.locator("#buy-button")).to_have_text("Buy now")
    await expect(card).to_contain_text("20 seconds of reserving")
    await expect(page.locator("#who")).to_contain_text("Logged in:")
    await assert_translated(page)
    await page.reload()
    assert await page.evaluate("document.documentElement.lang") == "en"  # the switch sticks
    await expect(page.locator(_card(rid)).locator(".badge")).to_have_text("On sale")
    await assert_translated(page)
    await shoot(page, "storefront-en-phone")
    await page.context.close()

    # A browser asking for English gets English first.
    english = await phone_page(browser, locale="en-US")
    await english.goto(server + "/")
    await expect(english.locator(_card(rid)).locator("button")).to_have_text("Buy")
    assert await english.evaluate("document.documentElement.lang") == "en"
    await assert_translated(english)


async def test_sms_limit_is_said_plainly(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    phone = phone_number()
    buyer = otp.buyer_id_for(phone, settings.pii_key)
    client = aioredis.Redis.from_url(settings.redis_url)
    try:  # this phone already had its codes for the hour
        await client.set(f"fs:otp:{{{buyer}}}:sends", otp.DEFAULT_POLICY.max_sends, ex=3600)
    finally:
        await client.aclose()
    rid = f"sms{unique}"
    await arm(settings, spec(rid, stock=5, offer=CARD))
    await wait_round(server, rid)
    page = await phone_page(browser)
    await page.goto(server + "/")
    await page.locator(_card(rid)).locator("button").click()
    await page.fill("#phone", phone)
    await page.click("#send-code")
    error = page.locator("#login-error")
    await expect(error).to_contain_text("获取验证码的次数已达上限")
    await expect(error).to_contain_text("60 分钟后再试")
    await expect(page.locator("#send-code")).to_be_disabled()
    await assert_translated(page)
    await shoot(page, "storefront-sms-limit-phone")


async def test_queued_before_the_start_admitted_after_the_browser_check_and_buys(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid = f"wq{unique}"
    later = spec(rid, stock=20, starts_at=datetime.now(UTC) + timedelta(minutes=5), offer=CARD)
    await arm(settings, later)
    await set_policy(settings, rid, Policy(room=True, rate=5, pow_bits=12))
    await wait_round(server, rid)
    page = await phone_page(browser)
    await page.goto(server + "/")
    await page.locator(_card(rid)).locator("button").click()
    await login(page)
    queue = page.locator("#queue")
    await expect(queue).to_have_attribute("data-state", "before")
    await expect(page.locator("#queue-countdown")).to_contain_text("距开售")
    await expect(page.locator("#buy")).to_be_hidden()
    await assert_translated(page)
    await shoot(page, "queue-before-start-phone")
    # Others join before the start too: one shuffle for everybody who came early.
    async with httpx.AsyncClient(base_url=server) as http:
        for i in range(4):
            who = headers(settings, f"early{i}{unique}", "q" * 8)
            assert (await http.post(f"/api/rounds/{rid}/queue", headers=who)).status_code == 200
    # The marketer brings the start forward (re-arming keeps the stock): the page follows.
    await arm(settings, replace(later, starts_at=datetime.now(UTC) + timedelta(seconds=2)))
    # At the start the room admits 5 a second: the page goes on to the form by itself, with
    # the browser check done in a Web Worker.
    await expect(page.locator("#buy-form")).to_be_visible(timeout=40_000)
    await expect(queue).to_be_hidden()
    await expect(page.locator("#pow-step")).to_have_attribute("data-state", "done")
    await expect(page.locator("#pow-step")).to_contain_text("浏览器验证通过")
    await expect(page.locator("#admitted")).to_contain_text("轮到您了")
    await _fill(page)
    button = page.locator("#buy-button")
    await expect(button).to_be_enabled()
    await button.click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("#confirm-buy")
    await expect(page.locator("#result")).to_have_attribute("data-code", "reserved")
    await expect(page.locator("#order")).to_have_attribute("data-status", "reserved")
    buyer = await page.evaluate("sessionStorage.getItem('fs_buyer')")
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        inventory = Inventory(client)
        mine = [
            o for oid in await inventory.order_ids(rid)
            if (o := await inventory.order(rid, oid)) and o["buyer_id"] == buyer
        ]  # fmt: skip
    finally:
        await client.aclose()
    assert len(mine) == 1
    await assert_translated(page)


async def test_a_reload_keeps_the_place_in_the_queue(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid, plain = f"wr{unique}", f"wp{unique}"
    await arm(settings, spec(rid, stock=50, starts_at=datetime.now(UTC), offer=CARD))
    await arm(settings, spec(plain, stock=5, offer=CARD))
    await set_policy(settings, rid, Policy(room=True, rate=1))
    await wait_round(server, rid)
    await wait_round(server, plain)
    page = await phone_page(browser)
    await page.goto(server + "/")
    await login_first(page, plain)
    # Six shoppers join just ahead (after the start: first come, first served).
    async with httpx.AsyncClient(base_url=server) as http:
        for i in range(6):
            who = headers(settings, f"ahead{i}{unique}", "q" * 8)
            assert (await http.post(f"/api/rounds/{rid}/queue", headers=who)).status_code == 200
    await page.locator(_card(rid)).locator("button").click()
    queue = page.locator("#queue")
    await expect(queue).to_have_attribute("data-state", "queued")
    position = page.locator("#queue-position")
    await expect(position).to_contain_text("您前面还有")
    await expect(page.locator("#queue-wait")).to_contain_text("预计等待")
    before = int(await position.get_attribute("data-position") or 0)
    assert 2 <= before <= 7
    assert int(await page.locator("#queue-progress").get_attribute("aria-valuenow") or -1) >= 3
    await assert_translated(page)
    await shoot(page, "queue-phone")
    await page.reload()
    await expect(queue).to_have_attribute("data-state", "queued")
    after = int(await position.get_attribute("data-position") or 0)
    assert 1 <= after <= before  # the same place (or closer): not a new one at the back
    await set_policy(settings, rid, Policy(room=True, rate=100))  # the room speeds up
    await expect(page.locator("#buy-form")).to_be_visible(timeout=40_000)
    token = await page.evaluate(
        f"localStorage.getItem('fs_adm:' + sessionStorage.getItem('fs_buyer') + ':{rid}')"
    )
    assert token
    assert '"token"' in token
    await page.reload()  # admitted: the kept token goes straight to the form
    await expect(page.locator("#buy-form")).to_be_visible()
    await expect(queue).to_be_hidden()


async def login_first(page, rid: str) -> None:  # type: ignore[no-untyped-def]
    """Log in from another round's card (one without a waiting room), then leave its form."""
    await page.locator(_card(rid)).locator("button").click()
    await login(page)
    await expect(page.locator("#buy-form")).to_be_visible()
    await page.evaluate("FS.app.buy.close()")


async def test_states_never_go_stale(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid, gone = f"st{unique}", f"go{unique}"
    await arm(settings, spec(rid, stock=1, hold_seconds=3, offer=CARD))
    await arm(settings, spec(gone, stock=0, offer=CARD))
    await wait_round(server, rid)
    await wait_round(server, gone)
    page = await phone_page(browser)
    await page.goto(server + "/")
    empty = page.locator(_card(gone))
    await expect(empty.locator(".badge")).to_have_text("已售罄")
    await expect(empty.locator(".note")).to_contain_text("稍后可能还有货")
    await expect(empty.locator("button")).to_be_disabled()
    card = page.locator(_card(rid))
    await expect(card).to_contain_text("下单后 3 秒内")
    await card.locator("button").click()
    await login(page)
    await _fill(page)
    await page.click("#buy-button")
    await page.click("#confirm-buy")
    result = page.locator("#result")
    await expect(result).to_have_attribute("data-code", "reserved")
    await expect(card.locator(".badge")).to_have_text("已售罄")  # the last unit is held
    # Nobody pays: the sweeper releases the hold; the page follows without a reload.
    client = aioredis.Redis.from_url(settings.redis_url)
    inventory = Inventory(client)
    try:
        await expect(page.locator("#pay-countdown")).to_contain_text("支付时间已到")
        await expect(page.locator("#pay-button")).to_be_hidden()
        await inventory.sweep(rid)  # (another session's sweeper may have been first)
        await expect(page.locator("#order")).to_have_attribute("data-status", "expired")
        await expect(result).to_have_attribute("data-code", "expired")
        await expect(result).to_contain_text("您可以重新购买")
        await expect(card.locator(".badge")).to_have_text("抢购中")  # the unit is back on sale
        button = page.locator("#buy-button")
        await expect(button).to_be_enabled()
        await shoot(page, "storefront-expired-phone")
        # A pause disables Buy and says why; resuming enables it again, all without a reload.
        await inventory.set_status(rid, "paused")
        await expect(card.locator(".badge")).to_have_text("暂停销售")
        await expect(card.locator(".note")).to_contain_text("恢复后即可继续购买")
        await expect(button).to_be_disabled()
        await expect(page.locator("#buy-hint")).to_contain_text("暂停销售")
        await inventory.set_status(rid, "live")
        await expect(button).to_be_enabled()
        await expect(card.locator(".badge")).to_have_text("抢购中")
        # Bought again and paid: the result says paid, no countdown is left running.
        await button.click()
        await page.click("#confirm-buy")
        await expect(result).to_have_attribute("data-code", "reserved")
        await page.click("#pay-button")
        await expect(page.locator("#order")).to_have_attribute("data-status", "paid")
        await expect(result).to_have_attribute("data-code", "paid")
        await expect(result.locator(".deadline")).to_have_count(0)
        await expect(page.locator("#pay-countdown")).to_be_hidden()
        await expect(page.locator("#buy-button")).to_have_text("已购买")
        await assert_translated(page)
    finally:
        await client.aclose()
