"""Fixtures of the front's browser tests: one ``flashsale serve`` and one Chromium per module
(each test opens its own shoppers' contexts, closed after it, failed or not)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.support.storefront import chromium, close_pages, front


@pytest.fixture(scope="module")
async def server(env: dict[str, str]) -> AsyncIterator[str]:
    async with front(env) as base:
        yield base


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
async def shoppers() -> AsyncIterator[None]:
    """Close every shopper's browser context a test opened (a failed test's too: its page
    would go on polling and slow the next test down)."""
    yield
    await close_pages()
