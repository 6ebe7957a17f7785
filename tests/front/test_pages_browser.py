"""The pages in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against
a real `flashsale serve`: countdown → buy (a double click buys once) → pay; sold out; the ops
dashboard refuses without the admin token and shows live figures with it. Screenshots of both
pages, desktop and phone size, land in test-artifacts/."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright, expect

from flashsale.core import parked
from flashsale.core.parked import ParkedEvent
from flashsale.core.settings import Settings
from inventory import Inventory
from tests.support import FLASHSALE, ROOT
from tests.support.api import arm, body, headers, spec
from tests.support.offer import snapshot
from tests.support.processes import free_port, until_ping

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


def _phone() -> str:
    return "139" + "".join(random.choices("0123456789", k=8))


@pytest.fixture(scope="module")
async def server(env: dict[str, str]) -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [FLASHSALE, "serve", "--port", str(port), "--workers", "1"],
        env={k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            await until_ping(http, 150)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        await b.close()


async def _page(browser: Browser, size: dict[str, int] = DESKTOP) -> Page:
    context = await browser.new_context(
        viewport=size, is_mobile=size == PHONE, has_touch=size == PHONE
    )  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page


async def _wait_round(server: str, rid: str) -> None:
    """The front's round cache refreshes a few times a second; wait until it lists the round."""
    async with httpx.AsyncClient(base_url=server) as http:
        for _ in range(50):
            if (await http.get(f"/api/rounds/{rid}")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"round {rid} never appeared")


async def _login(page: Page) -> None:
    await page.fill("#phone", _phone())
    await page.click("#send-code")
    try:
        await expect(page.locator("#dev-sms")).to_be_visible(timeout=15_000)
    except AssertionError as exc:  # say why: the page shows the API's refusal, if any
        error = await page.locator("#login-error").text_content()
        raise AssertionError(f"no dev SMS shown; login error on the page: {error!r}") from exc
    await expect(page.locator("#code")).not_to_have_value("")
    await page.click("#verify")
    await expect(page.locator("#logout")).to_be_visible()


async def test_shopper_waits_buys_once_on_double_click_and_pays(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid = f"web{unique}"
    now = datetime.now(UTC)
    await arm(settings, spec(rid, stock=5, number_choice=True,
                             starts_at=now + timedelta(seconds=4), ends_at=now + timedelta(hours=1),
                             offer=snapshot(offer_name="Fei Young 3G card", monthly_fee_fen=1900,
                                            gifts=[{"kind": "data", "amount": "1 GB"},
                                                   {"kind": "credit", "amount": 1000}],
                                            agreement_version="v3")))  # fmt: skip
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        numbers = [f"1860000{i:04d}" for i in range(6)]
        await Inventory(redis).load_numbers(rid, numbers)
        await _wait_round(server, rid)
        page = await _page(browser)
        await page.goto(server + "/")
        card = page.locator(f'article[data-round="{rid}"]')
        await expect(card).to_contain_text("Fei Young 3G card")
        await expect(card).to_contain_text("¥20")
        await expect(card).to_contain_text("¥19 / month")
        await expect(card).to_contain_text("1 GB / month")
        await expect(card).to_contain_text("100 minutes / month")
        await expect(card).to_contain_text("1000 yuan credit")
        await expect(card.locator(".countdown")).to_contain_text("Starts in 00:00:0")
        await card.locator("button").click()
        await expect(page.locator("#login")).to_be_visible()
        await _login(page)
        await expect(page.locator("#agreement-version")).to_have_text("v3")
        await page.fill("#real-name", "张伟")
        await page.fill("#id-number", body()["id_number"])
        await page.fill("#address", "北京市朝阳区建国路 88 号")
        await page.check("#agree")
        await page.locator("#numbers input[type=radio]").first.check()
        chosen = await page.locator("#numbers input[type=radio]").first.get_attribute("value")
        button = page.locator("#buy-button")
        if datetime.now(UTC) < now + timedelta(seconds=3):
            await expect(button).to_be_disabled()
            await expect(button).to_contain_text("Starts in")
        await page.screenshot(path=ARTIFACTS / "storefront-countdown-desktop.png", full_page=False)
        await expect(button).to_be_enabled(timeout=15_000)
        await button.dblclick()
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
        assert mine[0]["channel"] == "web"
        assert mine[0]["agreement_version"] == "v3"
        assert (await inventory.stats(rid)).orders == 1

        await page.click("#pay-button")
        await expect(page.locator("#order")).to_have_attribute("data-status", "paid")
        await expect(page.locator("#order-status")).to_have_text("paid")
        await expect(page.locator("#order-view")).to_contain_text(mine[0]["order_id"])
        await page.screenshot(path=ARTIFACTS / "storefront-paid-desktop.png", full_page=False)
        assert (await inventory.order(rid, mine[0]["order_id"]))["status"] == "paid"  # type: ignore[index]

        phone = await _page(browser, PHONE)
        await phone.goto(server + "/")
        await expect(phone.locator(f'article[data-round="{rid}"]')).to_be_visible()
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "no horizontal scrolling on a phone"
        await phone.locator(f'article[data-round="{rid}"] button').click()
        await phone.screenshot(path=ARTIFACTS / "storefront-phone.png", full_page=False)
        await page.context.close()
        await phone.context.close()
    finally:
        await redis.aclose()


async def test_sold_out_round_shows_sold_out(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    empty, last = f"empty{unique}", f"last{unique}"
    await arm(settings, spec(empty, stock=0))
    await arm(settings, spec(last, stock=1))
    await _wait_round(server, last)
    page = await _page(browser)
    await page.goto(server + "/")
    gone = page.locator(f'article[data-round="{empty}"]')
    await expect(gone.locator(".badge")).to_have_text("Sold out")
    await expect(gone.locator("button")).to_be_disabled()
    await expect(gone.locator("button")).to_have_text("Sold out")

    # The last unit goes to someone else while this shopper fills the form.
    await page.locator(f'article[data-round="{last}"] button').click()
    await _login(page)
    await page.fill("#real-name", "李娜")
    await page.fill("#id-number", body()["id_number"])
    await page.fill("#address", "上海市浦东新区世纪大道 100 号")
    await page.check("#agree")
    async with httpx.AsyncClient(base_url=server) as http:
        rival = headers(settings, f"rival{unique}", f"rival-{unique}")
        r = await http.post(f"/api/rounds/{last}/orders", json=body(), headers=rival)
        assert r.status_code == 201
    await page.click("#buy-button")
    result = page.locator("#result")
    await expect(result).to_have_attribute("data-code", "sold_out")
    await expect(result).to_contain_text("Sold out")
    await page.screenshot(path=ARTIFACTS / "storefront-sold-out-desktop.png", full_page=False)
    await page.context.close()


async def test_dashboard_refuses_without_token_and_shows_live_figures(
    server: str, browser: Browser, settings: Settings, unique: str
) -> None:
    rid = f"ops{unique}"
    await arm(settings, spec(rid, stock=50))
    await _wait_round(server, rid)
    page = await _page(browser)
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
    await page.screenshot(path=ARTIFACTS / "ops-desktop.png", full_page=False)

    phone = await _page(browser, PHONE)
    await phone.goto(server + f"/ops?rounds={rid}")
    await phone.fill("#token", settings.admin_token.reveal())
    await phone.click("#auth-form button")
    await expect(
        phone.locator(f'#rounds article[data-round="{rid}"] [data-kpi="left"]')
    ).to_have_text("43")
    await phone.screenshot(path=ARTIFACTS / "ops-phone.png", full_page=False)
    await page.context.close()
    await phone.context.close()
