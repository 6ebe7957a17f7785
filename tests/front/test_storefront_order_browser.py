"""Buying a lucky number in Chinese at phone size (issue 16), with the pipeline behind the front:
the chosen number survives "show other numbers"; the confirmation sheet shows the offer, plan
terms, gifts, number, address, the agreement (full text one tap away) and price + surcharge =
total; the order page shows the same total, pays without a reload, and follows the parcel
(carrier, tracking number, history, promised date) as fulfillment ships it; PostgreSQL stores
the same figures; "My orders" comes from the server. The relay, writer and fulfillment run
in-process on this test's own topics; the carrier is the simulated one."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, expect

from checkout.pipeline.relay import Relay, RelayConfig
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.settings import Settings
from fulfillment import seed_stock
from fulfillment.carrier import CarrierConfig
from inventory import Inventory
from tests.support.api import arm, body, spec
from tests.support.fulfillment import private, workers
from tests.support.offer import snapshot
from tests.support.pipeline import eventually
from tests.support.storefront import (
    BROWSER_TESTS,
    assert_translated,
    catalog_offer,
    login,
    phone_page,
    shoot,
    wait_round,
)

pytestmark = BROWSER_TESTS
AGREEMENT = (
    "中国联通移动电话入网服务协议\n"
    "第一条 甲方自愿使用乙方提供的移动通信服务，并遵守国家有关法律法规。\n"
    "第二条 甲方须如实登记身份信息，一证一户，实名使用。\n"
    "第三条 月租及套餐内容以甲方下单时确认的套餐条款为准。"
)
PAID = re.compile(r"^(paid|shipped|delivered)$")
SHIPPED = re.compile(r"^(shipped|delivered)$")
SHIPPED_WORD = re.compile(r"^(已发货|已签收)$")


@pytest.fixture
async def pipeline(
    settings: Settings, pg_pool: asyncpg.Pool, unique: str
) -> AsyncIterator[tuple[Settings, str]]:
    """Relay (this test's rounds only), writer and one fulfillment worker on private topics;
    yields their settings and the round id prefix they serve."""
    own = await private(settings, unique)
    prefix = f"so{unique[:6]}"
    redis = aioredis.Redis.from_url(settings.redis_url)
    relay = Relay(own, redis, RelayConfig(consumer=f"t-{unique}", round_prefix=prefix))
    writer = Writer(own, pg_pool, WriterConfig(group=f"w-{unique}"))
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]
    await seed_stock(pg_pool, sim_cards=3, numbers=3, seed=int(unique[:6], 16))
    try:
        async with workers(own, pg_pool, CarrierConfig(latency_ms=5, step_seconds=1)):
            yield own, prefix
    finally:
        relay.stop()
        writer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await redis.aclose()


async def test_lucky_number_confirmed_paid_stored_and_tracked(
    server: str,
    browser: Browser,
    settings: Settings,
    pg_pool: asyncpg.Pool,
    unique: str,
    pipeline: tuple[Settings, str],
) -> None:
    _, prefix = pipeline
    rid = f"{prefix}{uuid.uuid4().hex[:4]}"
    version = f"2026-{unique[:4]}"
    offer_id = await catalog_offer(
        pg_pool, unique, "沃派 3G 靓号卡", version, AGREEMENT,
        monthly_fee_fen=1900, data_mb=1024, voice_minutes=100,
    )  # fmt: skip
    shown = snapshot(
        offer_id=offer_id, offer_name="沃派 3G 靓号卡", monthly_fee_fen=1900,
        agreement_version=version,
        gifts=[{"kind": "data", "amount": "1 GB"}, {"kind": "credit", "amount": 10}],
    )  # fmt: skip
    await arm(settings, spec(rid, stock=3, number_choice=True, offer_id=offer_id,
                             agreement_version=version, offer=shown))  # fmt: skip
    lucky = f"1868{unique[:3].translate(str.maketrans('abcdef', '123456'))}8888"
    digits = unique.translate(str.maketrans("abcdef", "123456"))
    others = [f"1860{i:03d}{digits[3:7]}" for i in range(20)]
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        await Inventory(redis).load_numbers(rid, [lucky, *others], {lucky: 8800})
    finally:
        await redis.aclose()
    await wait_round(server, rid)

    page = await phone_page(browser)
    await page.goto(server + "/")
    await page.locator(f'article[data-round="{rid}"] button').click()
    await login(page)
    await expect(page.locator("#buy-form")).to_be_visible()
    spaced = f"{lucky[:3]} {lucky[3:7]} {lucky[7:]}"
    # The lucky number may not be in the first sample: show others until it is.
    pick = page.locator(f'#numbers input[value="{lucky}"]')
    numbers = page.locator("#numbers")
    await expect(numbers).to_have_attribute("data-loads", "1")
    for loads in range(2, 30):
        if await pick.count():
            break
        await page.click("#more-numbers")
        await expect(numbers).to_have_attribute("data-loads", str(loads))
    await pick.check()
    await expect(page.locator("#chosen-number")).to_contain_text(spaced)
    before = int(await numbers.get_attribute("data-loads") or 0)
    await page.click("#more-numbers")  # other numbers: the choice stays
    await expect(numbers).to_have_attribute("data-loads", str(before + 1))
    await expect(pick).to_be_checked()
    await expect(page.locator("#chosen-number")).to_contain_text("换一批不会取消已选号码")
    await expect(page.locator("#numbers")).to_contain_text("选号费 ¥88")

    await page.fill("#real-name", "王芳")
    await page.fill("#id-number", body()["id_number"])
    await page.fill("#address", "广东省广州市天河区体育西路 191 号")
    await page.check("#agree")
    await page.click("#buy-button")
    sheet = page.locator("#confirm")
    await expect(sheet).to_be_visible()
    await expect(sheet).to_contain_text("沃派 3G 靓号卡")
    await expect(sheet).to_contain_text(spaced)
    await expect(sheet).to_contain_text("广东省广州市天河区体育西路 191 号")
    await expect(sheet).to_contain_text("¥19 / 月")
    await expect(sheet).to_contain_text("1 GB 流量 + 话费 10 元")
    await expect(sheet).to_contain_text(version)
    total = "¥20 + 选号费 ¥88 = ¥108"
    await expect(page.locator("#confirm-amount")).to_have_text(total)
    await assert_translated(page)
    await shoot(page, "confirm-sheet-zh-phone")
    await page.click("#confirm-read")  # the agreement's full text, one tap away
    await expect(page.locator("#agreement-body")).to_have_text(AGREEMENT)
    await assert_translated(page)
    await shoot(page, "agreement-zh-phone")
    await page.click("#agreement-close")
    await page.click("#confirm-buy")

    order = page.locator("#order")
    await expect(order).to_have_attribute("data-status", "reserved")
    await expect(page.locator("#order-amount")).to_have_text(total)  # the same figures
    await expect(page.locator("#order-number")).to_have_text(spaced)
    order_id = await page.locator("#order-id").inner_text()
    await page.click("#pay-button")
    await expect(order).to_have_attribute("data-status", PAID)
    await expect(page.locator("#result")).to_contain_text("已支付")

    async def stored() -> bool:
        row = await pg_pool.fetchrow(
            "SELECT surcharge_fen, total_fen, number, agreement_version, offer "
            "FROM orders WHERE id = $1",
            order_id,
        )
        return row is not None and row["total_fen"] is not None and row["offer"] is not None

    await eventually(stored, within=60)
    row = await pg_pool.fetchrow(
        "SELECT surcharge_fen, total_fen, number, agreement_version FROM orders WHERE id = $1",
        order_id,
    )
    assert (row["surcharge_fen"], row["total_fen"]) == (8800, 10800)
    assert (row["number"], row["agreement_version"]) == (lucky, version)

    # Fulfillment books the parcel and the carrier moves it: the page follows, no reload.
    tracking = page.locator("#tracking")
    await expect(page.locator("#tracking-no")).not_to_be_empty(timeout=60_000)
    await expect(page.locator("#carrier")).to_have_text("simexpress")
    await expect(page.locator("#promised-date")).to_contain_text("年")
    await expect(tracking.locator("#tracking-history li").first).to_be_visible()
    await expect(order).to_have_attribute("data-status", SHIPPED, timeout=60_000)
    await expect(page.locator("#order-status")).to_have_text(SHIPPED_WORD)
    await expect(tracking.locator("#tracking-history li").nth(1)).to_be_visible(timeout=60_000)
    await assert_translated(page)
    await page.locator("#order").scroll_into_view_if_needed()
    await shoot(page, "tracking-zh-phone")

    # "My orders" is the server's list: still there with this browser's memory of it gone.
    await page.evaluate("localStorage.clear()")
    await page.goto(server + "/#orders")
    item = page.locator(f'#order-list li[data-order="{order_id}"]')
    await expect(item).to_be_visible()
    await expect(item).to_contain_text("¥108")
    await expect(item).to_contain_text("沃派 3G 靓号卡")
    await assert_translated(page)
    await shoot(page, "my-orders-zh-phone")
