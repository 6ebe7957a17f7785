"""Marketer inputs go through the same text rule as shopper inputs (issue 12, "The edge"):
product and offer names, agreement version and text, gifts, variant fields, number pools.
Each is either refused (the library: ``InvalidInput`` naming the field; the CLI: one line,
exit 1, nothing stored) or stored in PostgreSQL exactly, in NFC."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import catalog
from catalog.errors import InvalidInput
from flashsale.core.audit import Operator
from tests.support.cli import counts, flashsale, refused
from tests.support.edge import Portal, nfc, storable, texts

OPERATOR = Operator(actor="edge-test")
# field -> (min characters, max characters, max bytes, multiline)
OFFER_FIELDS: dict[str, tuple[int, int, int, bool]] = {
    "name": (1, 200, 600, False),
    "agreement_version": (1, 64, 128, False),
    "agreement_text": (0, 100_000, 400_000, True),
    "gift": (1, 200, 600, False),
}


def attempt(
    portal: Portal, call: Coroutine[Any, Any, dict[str, Any]]
) -> tuple[dict[str, Any], InvalidInput | None]:
    """The stored row, or the refusal."""
    try:
        return portal.call(call), None
    except InvalidInput as exc:
        return {}, exc


def with_product(
    portal_conn: tuple[Portal, asyncpg.Connection], kind: str, name: str
) -> tuple[Portal, asyncpg.Connection, dict[str, Any]]:
    """The portal, its connection, and a new product of ``kind`` to add offers or variants to."""
    portal, conn = portal_conn
    return portal, conn, portal.call(catalog.add_product(conn, OPERATOR, kind, name))


def test_offers_with_arbitrary_text_are_refused_or_stored_exactly(
    portal_conn: tuple[Portal, asyncpg.Connection],
) -> None:
    portal, conn, product = with_product(portal_conn, "sim_card", "edge card")
    counter = itertools.count()

    @hsettings(
        max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(field=st.sampled_from(sorted(OFFER_FIELDS)), value=texts(80))
    def offer(field: str, value: str) -> None:
        values: dict[str, Any] = {
            "name": f"offer {next(counter)}",
            "agreement_version": "v1",
            "agreement_text": "",
            "gift": "phone case",
        }
        values[field] = value
        terms = catalog.OfferTerms(
            product_id=product["id"],
            name=values["name"],
            price_fen=2000,
            agreement_version=values["agreement_version"],
            agreement_text=values["agreement_text"],
            gifts=[{"kind": "item", "amount": values["gift"]}],
        )
        low, high, max_bytes, multiline = OFFER_FIELDS[field]
        ok = storable(value, low, high, max_bytes, multiline=multiline)
        made, refusal = attempt(portal, catalog.add_offer(conn, OPERATOR, terms))
        if refusal is not None:
            assert not ok, f"refused storable {value!r} for {field}: {refusal}"
            assert refusal.data.get("field") in (field, "gifts"), refusal.data
            return
        assert ok, f"stored {value!r} for {field}"
        row = portal.call(conn.fetchrow("SELECT * FROM offers WHERE id = $1", made["id"]))
        if field == "gift":
            assert orjson.loads(row["gifts"]) == [{"kind": "item", "amount": nfc(value)}]
            assert made["gifts"] == [{"kind": "item", "amount": nfc(value)}]
        else:
            assert row[field] == nfc(value)

    offer()


WHERE = {
    "product": ("products", "name"),
    "sku": ("variants", "sku"),
    "colour": ("variants", "colour"),
}
LIMITS = {"product": (1, 200, 600), "sku": (1, 64, 128), "colour": (0, 64, 192)}


def test_products_and_variants_with_arbitrary_text(
    portal_conn: tuple[Portal, asyncpg.Connection],
) -> None:
    portal, conn, handset = with_product(portal_conn, "handset", "edge phone")
    counter = itertools.count()
    run = uuid.uuid4().hex[:8]

    @hsettings(
        max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(what=st.sampled_from(sorted(WHERE)), value=texts(80))
    def add(what: str, value: str) -> None:
        n = next(counter)
        if what == "sku":
            value = f"{n}#{value}"  # unique whatever the text (n has no "#")
        ok = storable(value, *LIMITS[what])
        if what == "product":
            call = catalog.add_product(conn, OPERATOR, "plan", value)
        elif what == "sku":
            call = catalog.add_variant(conn, OPERATOR, handset["id"], value)
        else:
            call = catalog.add_variant(conn, OPERATOR, handset["id"], f"e-{run}-{n}", value)
        made, refusal = attempt(portal, call)
        if refusal is not None:
            assert refusal.data.get("field") in ("name", "sku", "colour"), refusal.data
            assert not ok, f"refused storable {value!r} as {what}"
            return
        assert ok, f"stored {value!r} as {what}"
        table, column = WHERE[what]
        query = f"SELECT {column} FROM {table} WHERE id = $1"  # noqa: S608 - fixed names
        assert portal.call(conn.fetchval(query, made["id"])) == nfc(value)

    add()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--name", b"bad \xff name"], ["name"]),  # not UTF-8: a lone surrogate after decoding
        (["--name", "bad \x1b[31m name"], ["name", "control"]),
        (["--name", "bad\u2028name"], ["name"]),
        (["--name", "\ufffe"], ["name"]),
        (["--name", "x" * 201], ["name", "200"]),
        (["--name", " \u3000 "], ["name"]),
    ],
)
async def test_cli_refuses_unstorable_product_names(
    env: dict[str, str], pg_pool: asyncpg.Pool, args: list[str | bytes], words: list[str]
) -> None:
    before = await counts(pg_pool)
    result = await flashsale(env, "catalog", "add-product", "--kind", "sim_card", *args)  # type: ignore[arg-type]
    refused(result, *words)
    assert result.code == 1
    assert await counts(pg_pool) == before


async def test_cli_refuses_unstorable_offer_fields(
    env: dict[str, str], pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    made = await flashsale(
        env, "catalog", "add-product", "--kind", "sim_card", "--name", "c", "--json"
    )
    product = str(made.json()["id"])  # type: ignore[index]
    base = ["catalog", "add-offer", "--product", product, "--price", "20"]
    latin1 = tmp_path / "agreement-latin1.txt"
    latin1.write_bytes("Vertrag f\u00fcr Kunden".encode("latin-1"))
    nul = tmp_path / "agreement-nul.txt"
    nul.write_bytes(b"terms\x00more terms")
    offer = ["--name", "o", "--agreement-version", "v1"]
    cases: list[tuple[list[str | bytes], list[str]]] = [
        (["--name", "o", "--agreement-version", "v1\x07"], ["agreement_version"]),
        (["--name", "o", "--agreement-version", b"v\xff"], ["agreement_version"]),
        (["--name", "o\x1b", "--agreement-version", "v1"], ["name"]),
        ([*offer, "--gift", "item=case\x1b"], ["gift"]),
        ([*offer, "--gifts-json", '[{"kind": "item", "amount": "a\\u0000b"}]'], ["gift"]),
        ([*offer, "--gift", "credit=\u00b2"], ["gift"]),
        ([*offer, "--data", "\u00b2"], ["data"]),
        ([*offer, "--agreement-file", str(latin1)], ["agreement file", "UTF-8"]),
        ([*offer, "--agreement-file", str(nul)], ["agreement_text"]),
        ([*offer, "--data", "99999999999999GB"], ["refused"]),  # beyond PostgreSQL's integer
    ]
    before = await counts(pg_pool)
    for args, words in cases:
        result = await flashsale(env, *base, *args)  # type: ignore[arg-type]
        refused(result, *words)
        assert result.code == 1, (args, result.err)
    assert await counts(pg_pool) == before


async def test_cli_stores_unusual_but_valid_text_exactly(
    env: dict[str, str], pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    name = "\u200f\u05db\u05e8\u05d8\u05d9\u05e1 SIM \U0001f600 e\u0301 \ue000"  # RTL, emoji
    made = await flashsale(
        env, "catalog", "add-product", "--kind", "sim_card", "--name", name, "--json"
    )
    product = made.json()
    assert product["name"] == nfc(name)  # type: ignore[index]
    agreement = tmp_path / "agreement.txt"
    agreement.write_text("Line one\n\tindented\r\nline three \u200e", encoding="utf-8")
    version, gift = "2026\u5e74\u7248", "\u624b\u673a\u58f3 \U0001f4f1"
    offer = await flashsale(
        env, "catalog", "add-offer", "--product", str(product["id"]),  # type: ignore[index]
        "--name", "Offre sp\u00e9ciale", "--price", "20", "--agreement-version", version,
        "--agreement-file", str(agreement), "--gift", f"item={gift}", "--json",
    )  # fmt: skip
    data = offer.json()
    row = await pg_pool.fetchrow("SELECT * FROM offers WHERE id = $1", data["id"])  # type: ignore[index]
    assert row["agreement_version"] == version
    # tabs and line breaks are kept in agreement text (CRLF read as LF: universal newlines)
    assert row["agreement_text"] == "Line one\n\tindented\nline three \u200e"
    assert row["name"] == "Offre sp\u00e9ciale"
    assert orjson.loads(row["gifts"]) == [{"kind": "item", "amount": gift}]


async def test_cli_numbers_refuses_non_ascii_digits_and_bad_pool_names(
    env: dict[str, str], pg_pool: asyncpg.Pool, tmp_path: Path, unique: str
) -> None:
    before = await counts(pg_pool)
    wide = tmp_path / "wide.txt"
    wide.write_text("1380013800\uff10\n13800138001\n", encoding="utf-8")
    refused(await flashsale(env, "numbers", "load", f"p{unique}", str(wide)), "line 1")
    arabic = tmp_path / "arabic.txt"
    arabic.write_text("1380013800\u0660\n", encoding="utf-8")
    refused(await flashsale(env, "numbers", "load", f"p{unique}", str(arabic)), "line 1")
    good = tmp_path / "good.txt"
    good.write_text("13800138002\n", encoding="utf-8")
    pools: list[str | bytes] = [f"p{unique}\n", f"p{unique}\u00e9", b"p\xff"]
    for pool in pools:
        result = await flashsale(env, "numbers", "load", pool, str(good))  # type: ignore[arg-type]
        refused(result, "pool name")
        assert result.code == 1
    assert await counts(pg_pool) == before
