"""DDL that cannot take parameters (CREATE ROLE / DATABASE) quotes only plain names."""

from __future__ import annotations

import re

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashsale.core.db import quote_ident
from flashsale.core.settings import Settings

PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")


@settings(max_examples=150, deadline=None)
@given(name=st.text(st.characters(codec=None), max_size=100))
def test_anything_but_a_plain_name_is_refused(name: str) -> None:
    if PLAIN.fullmatch(name):
        assert quote_ident(name) == f'"{name}"'
    else:
        with pytest.raises(ValueError, match="not a plain PostgreSQL name"):
            quote_ident(name)


@pytest.mark.parametrize("name", ['x"; DROP TABLE orders; --', "a b", "", "é", "a" * 64, "1a"])
def test_injection_shapes_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain PostgreSQL name"):
        quote_ident(name)


async def test_a_quoted_name_is_one_identifier(settings: Settings, unique: str) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        name = f"T-mixed_{unique}"
        await conn.execute("CREATE TEMP TABLE " + quote_ident(name) + " (x int)")
        assert await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname = $1", name) == 1
    finally:
        await conn.close()
