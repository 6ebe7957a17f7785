"""Helpers for the storefront's browser tests: real ``flashsale`` processes (the front, and the
pipeline behind it when a test needs PostgreSQL's copy or tracking), Debian's Chromium driven by
Playwright at phone size, logging in by the dev SMS, screenshots under ``test-artifacts/``
(git-ignored), and the check that every visible text is translated.

Waits are on state (Playwright's ``expect`` retries until a condition holds), never on time."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from catalog.products import OfferTerms, add_offer, add_product
from flashsale.core.audit import Operator
from tests.support import FLASHSALE, ROOT
from tests.support.processes import free_port, until_ping

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
]  # fmt: skip
PHONE = {"width": 414, "height": 900}
#: ``pytestmark`` of a browser test module: skipped without Chromium; each test's shoppers'
#: contexts closed after it (the ``shoppers`` fixture of tests/front/conftest.py).
BROWSER_TESTS = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
    pytest.mark.usefixtures("shoppers"),
]
TIMEOUT_MS = 20_000  # a loaded 2-core machine: generous, and only ever an upper bound

# Every visible text node outside [data-raw] (what shoppers or marketers typed: offer names,
# addresses, ids, tracking numbers) must be in the page's language: no Latin words in Chinese
# (units like GB aside), no Chinese in English; and no text key the page asked for may be missing.
_UNTRANSLATED_JS = """() => {
  const zh = document.documentElement.lang === "zh-CN";
  const bad = [];
  const visible = (node) => {
    const e = node.parentElement;
    if (!e || e.closest("[data-raw], script, style, [hidden]")) return false;
    if (e.closest("dialog") && !e.closest("dialog").open) return false;
    const s = getComputedStyle(e);
    return s.visibility !== "hidden" && s.display !== "none" && e.getClientRects().length > 0;
  };
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const text = n.textContent.trim();
    if (!text || !visible(n)) continue;
    const rest = text.replace(/\\d*\\s*(GB|MB)\\b/g, "");
    if (zh ? /[A-Za-z]{2,}/.test(rest) : /[\\u3400-\\u9fff]/.test(rest)) bad.push(text);
  }
  for (const e of document.querySelectorAll("[aria-label], [title], [placeholder]")) {
    for (const a of ["aria-label", "title", "placeholder"]) {
      const v = e.getAttribute(a);
      if (v && (zh ? /[A-Za-z]{2,}/.test(v) : /[\\u3400-\\u9fff]/.test(v))) bad.push(a + "=" + v);
    }
  }
  return { bad, missing: Array.from(FS.missing) };
}"""


_OPEN: list[BrowserContext] = []


async def close_pages() -> None:
    """Close every shopper's context opened since the last call (a failed test's too: its page
    would go on polling and slow the next test down)."""
    while _OPEN:
        await _OPEN.pop().close()


def cjk_font() -> bool:
    """Whether fontconfig knows a Chinese font (``make debian-test`` installs fonts-noto-cjk):
    without one, headless Chromium draws Chinese as boxes."""
    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(found.stdout.strip())


def phone_number() -> str:
    return "139" + "".join(random.choices("0123456789", k=8))


@contextlib.contextmanager
def process(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A ``flashsale`` subprocess, stopped with SIGTERM (and checked) at the end."""
    proc = subprocess.Popen(
        [FLASHSALE, *args],
        env={k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGTERM), (args, err.decode()[-2000:])


@contextlib.asynccontextmanager
async def front(env: dict[str, str]) -> AsyncIterator[str]:
    """``flashsale serve`` on a free port; its base URL once it answers."""
    port = free_port()
    with process(env, "serve", "--port", str(port), "--workers", "1") as proc:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            await until_ping(http, 300, proc)
        yield base


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def phone_page(browser: Browser, locale: str = "zh-CN", **context: Any) -> Page:
    """A fresh shopper (own cookies and storage) on a 414x900 phone in ``locale``."""
    ctx = await browser.new_context(
        viewport=PHONE,  # type: ignore[arg-type]
        is_mobile=True,
        has_touch=True,
        locale=locale,
        extra_http_headers={"Accept-Language": locale},
        **context,
    )
    _OPEN.append(ctx)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    return page


async def login(page: Page, phone: str | None = None) -> str:
    """Log in through the page with the dev-mode SMS; the phone number used."""
    phone = phone or phone_number()
    await page.fill("#phone", phone)
    await page.click("#send-code")
    try:
        await expect(page.locator("#dev-sms")).to_be_visible()
    except AssertionError as exc:  # say why: the page shows the API's refusal, if any
        error = await page.locator("#login-error").text_content()
        raise AssertionError(f"no dev SMS shown; login error on the page: {error!r}") from exc
    await expect(page.locator("#code")).not_to_have_value("")
    await page.click("#verify")
    await expect(page.locator("#logout")).to_be_visible()
    return phone


async def untranslated(page: Page) -> dict[str, list[str]]:
    result: dict[str, list[str]] = await page.evaluate(_UNTRANSLATED_JS)
    return result


async def assert_translated(page: Page) -> None:
    """Every visible text in the page's language, no text missing, no script error so far."""
    found = await untranslated(page)
    assert found == {"bad": [], "missing": []}, found
    assert page.js_errors == [], page.js_errors  # type: ignore[attr-defined]


async def shoot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=path, full_page=False)
    return path


async def wait_round(server: str, rid: str) -> None:
    """The front's round cache refreshes a few times a second; wait until it lists the round."""
    async with httpx.AsyncClient(base_url=server) as http:
        for _ in range(100):
            if (await http.get(f"/api/rounds/{rid}")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"round {rid} never appeared")


async def catalog_offer(
    pool: asyncpg.Pool, unique: str, name: str, version: str, agreement: str, **terms: Any
) -> str:
    """A SIM-card offer in the catalog with its agreement's full text; its id."""
    async with pool.acquire() as conn:
        who = Operator("test-storefront")
        product = await add_product(conn, who, "sim_card", f"3G 卡 {unique}")
        offer = await add_offer(
            conn,
            who,
            OfferTerms(product["id"], name, 2000, version, agreement_text=agreement, **terms),
        )
    return str(offer["id"])
