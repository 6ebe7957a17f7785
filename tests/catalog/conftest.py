"""Fixtures of the catalog tests."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from flashsale.core.settings import Settings
from tests.support.edge import Portal


@pytest.fixture
def portal_conn(settings: Settings) -> Iterator[tuple[Portal, asyncpg.Connection]]:
    """A PostgreSQL connection on an event loop of its own (for Hypothesis tests, which are
    synchronous), closed afterwards."""
    portal = Portal()
    conn: asyncpg.Connection = portal.call(asyncpg.connect(settings.database_url))
    try:
        yield portal, conn
    finally:
        portal.call(conn.close())
        portal.close()
