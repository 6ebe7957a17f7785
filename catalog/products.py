"""Products, offers (the terms a shopper accepts) and handset variants."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import orjson

from catalog.errors import CatalogNotFound, InvalidInput, InvalidTransition
from catalog.money import yuan
from checkout.offer import PRODUCT_KINDS
from flashsale.core import text
from flashsale.core.audit import Operator, audit

# Every marketer text goes through flashsale.core.text (NFC, no control characters, bounded), so
# what is stored here can be copied into events, PostgreSQL jsonb and log lines as it is.
PRODUCT_NAME = text.TextRule("name", 1, 200, 600)
DESCRIPTION = text.TextRule("description", 0, 4000, 12_000, multiline=True)
OFFER_NAME = text.TextRule("name", 1, 200, 600)
GIFT_TEXT = text.TextRule("gift", 1, 200, 600)
SKU = text.TextRule("sku", 1, 64, 128)
COLOUR = text.TextRule("colour", 0, 64, 192)
STORAGE = text.TextRule("storage", 0, 64, 192)
MAX_GIFTS = 20


def clean(value: object, rule: text.TextRule) -> str:
    """``value`` by ``rule``, or :class:`InvalidInput` naming the field."""
    try:
        return rule.clean(value)
    except text.TextError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None


def clean_gifts(gifts: object) -> list[dict[str, Any]]:
    """Gifts as stored: a short list of objects whose keys and string values pass the rule."""
    if not isinstance(gifts, list) or len(gifts) > MAX_GIFTS:
        raise InvalidInput(f"gifts must be a list of at most {MAX_GIFTS}", field="gifts")
    return [_clean_gift(g) for g in gifts]


def _clean_gift(gift: object) -> dict[str, Any]:
    if not isinstance(gift, dict) or len(gift) > 8:
        raise InvalidInput("each gift must be an object of a few fields", field="gifts")
    out: dict[str, Any] = {}
    for key, value in gift.items():
        name = clean(key, GIFT_TEXT)
        if isinstance(value, str):
            out[name] = clean(value, GIFT_TEXT)
        elif value is None or (isinstance(value, bool | int) and abs(value) < 2**53):
            out[name] = value  # a whole number exact in every JSON reader, or true/false/null
        else:
            raise InvalidInput(
                f"gift field {name!r} must be text, a whole number, true/false or null",
                field="gifts",
            )
    return out


@dataclass(frozen=True)
class OfferTerms:
    product_id: int
    name: str
    price_fen: int
    agreement_version: str
    monthly_fee_fen: int = 0
    data_mb: int | None = None
    voice_minutes: int | None = None
    gifts: list[dict[str, Any]] = field(default_factory=list)
    agreement_text: str = ""
    currency: str = "CNY"


async def add_product(
    conn: asyncpg.Connection, operator: Operator, kind: str, name: str, description: str = ""
) -> dict[str, Any]:
    if kind not in PRODUCT_KINDS:
        raise InvalidInput(f"bad product kind {kind!r} (one of {', '.join(PRODUCT_KINDS)})")
    name = clean(name, PRODUCT_NAME)
    description = clean(description, DESCRIPTION)
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO products (kind, name, description) VALUES ($1, $2, $3) RETURNING *",
            kind,
            name,
            description,
        )
        await audit(
            conn, operator, "product.add", f"product:{row['id']}", {"kind": kind, "name": name}
        )
    return product_dict(row)


async def add_offer(
    conn: asyncpg.Connection, operator: Operator, terms: OfferTerms
) -> dict[str, Any]:
    terms = replace(
        terms,
        name=clean(terms.name, OFFER_NAME),
        agreement_version=clean(terms.agreement_version, text.AGREEMENT_VERSION),
        agreement_text=clean(terms.agreement_text, text.AGREEMENT_TEXT),
        gifts=clean_gifts(terms.gifts),
    )
    if terms.currency != "CNY":
        raise InvalidInput(f"currency {terms.currency!r} not supported (CNY only)")
    async with conn.transaction():
        product = await _product(conn, terms.product_id)
        if product["retired_at"] is not None:
            raise InvalidTransition(
                f"product {terms.product_id} is retired: no new offers",
                product_id=terms.product_id,
            )
        row = await conn.fetchrow(
            """INSERT INTO offers (product_id, name, price_fen, currency, monthly_fee_fen, data_mb,
                   voice_minutes, gifts, agreement_text, agreement_version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10) RETURNING *""",
            terms.product_id,
            terms.name,
            terms.price_fen,
            terms.currency,
            terms.monthly_fee_fen,
            terms.data_mb,
            terms.voice_minutes,
            orjson.dumps(terms.gifts).decode(),
            terms.agreement_text,
            terms.agreement_version,
        )
        await audit(
            conn,
            operator,
            "offer.add",
            f"offer:{row['id']}",
            {
                "product_id": terms.product_id,
                "name": terms.name,
                "price_fen": terms.price_fen,
                "agreement_version": terms.agreement_version,
            },
        )
    return offer_dict(row)


async def add_variant(
    conn: asyncpg.Connection,
    operator: Operator,
    product_id: int,
    sku: str,
    colour: str = "",
    storage: str = "",
    offer_id: int | None = None,
) -> dict[str, Any]:
    sku = clean(sku, SKU)
    colour = clean(colour, COLOUR)
    storage = clean(storage, STORAGE)
    async with conn.transaction():
        product = await _product(conn, product_id)
        if product["kind"] != "handset":
            raise InvalidInput(
                f"product {product_id} is a {product['kind']}; variants are for handsets"
            )
        if offer_id is not None:
            offer = await get_offer(conn, offer_id)
            if offer["product_id"] != product_id:
                raise InvalidInput(f"offer {offer_id} is not an offer of product {product_id}")
        try:
            row = await conn.fetchrow(
                "INSERT INTO variants (product_id, offer_id, colour, storage, sku) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING *",
                product_id,
                offer_id,
                colour,
                storage,
                sku,
            )
        except asyncpg.UniqueViolationError:
            raise InvalidInput(f"sku {sku!r} already exists", sku=sku) from None
        await audit(
            conn,
            operator,
            "variant.add",
            f"variant:{row['id']}",
            {"product_id": product_id, "sku": sku, "colour": colour, "storage": storage},
        )
    return dict(row.items())


async def _product(conn: asyncpg.Connection, product_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM products WHERE id = $1", product_id)
    if row is None:
        raise CatalogNotFound(f"unknown product {product_id}", product_id=product_id)
    return row


async def get_offer(conn: asyncpg.Connection, offer_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT o.*, p.kind AS product_kind, p.name AS product_name FROM offers o "
        "JOIN products p ON p.id = o.product_id WHERE o.id = $1",
        offer_id,
    )
    if row is None:
        raise CatalogNotFound(f"unknown offer {offer_id}", offer_id=offer_id)
    return offer_dict(row)


async def list_catalog(conn: asyncpg.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """One row per offer (products without offers appear once with empty offer fields)."""
    rows = await conn.fetch(
        """SELECT p.id AS product_id, p.kind, p.name AS product, o.id AS offer_id,
                  o.name AS offer, o.price_fen, o.monthly_fee_fen, o.agreement_version,
                  (SELECT count(*) FROM variants v WHERE v.product_id = p.id) AS variants,
                  coalesce(o.retired_at, p.retired_at) IS NOT NULL AS retired
           FROM products p LEFT JOIN offers o ON o.product_id = p.id
           WHERE $1::text IS NULL OR p.kind = $1 ORDER BY p.id, o.id""",
        kind,
    )
    return [
        dict(r.items())
        | {
            "price": None if r["price_fen"] is None else yuan(r["price_fen"]),
            "monthly_fee": None if r["monthly_fee_fen"] is None else yuan(r["monthly_fee_fen"]),
        }
        for r in rows
    ]


async def show_product(conn: asyncpg.Connection, product_id: int) -> dict[str, Any]:
    product = product_dict(await _product(conn, product_id))
    offers = await conn.fetch("SELECT * FROM offers WHERE product_id = $1 ORDER BY id", product_id)
    variants = await conn.fetch(
        "SELECT * FROM variants WHERE product_id = $1 ORDER BY id", product_id
    )
    product["offers"] = [offer_dict(o) for o in offers]
    product["variants"] = [dict(v.items()) for v in variants]
    return product


def product_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "kind", "name", "description", "created_at", "retired_at")}


def offer_dict(row: asyncpg.Record) -> dict[str, Any]:
    data = dict(row.items())
    gifts = data["gifts"]
    data["gifts"] = orjson.loads(gifts) if isinstance(gifts, str) else gifts
    data["price"] = yuan(data["price_fen"])
    data["monthly_fee"] = yuan(data["monthly_fee_fen"])
    return data
