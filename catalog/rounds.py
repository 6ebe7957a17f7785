"""Sale rounds in PostgreSQL: create, read, and the RoundSpec that arming loads into Redis."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from catalog.errors import (
    CatalogConflict,
    CatalogNotFound,
    InvalidInput,
    InvalidTransition,
    InvalidWindow,
    RoundOverlap,
)
from catalog.products import get_offer
from checkout.offer import Gift, OfferSnapshot, Variant
from flashsale.core.audit import Operator, audit
from inventory.keys import MAX_BUCKETS, ROUND_ID
from inventory.spec import CHANNELS, RoundSpec

OPEN_STATUSES = ("scheduled", "live", "paused")
MAX_STOCK = 10_000_000
MAX_HOLD_SECONDS = 24 * 3600
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"

_SELECT = """
SELECT r.*, o.name AS offer_name, p.name AS product_name, p.kind AS product_kind,
       np.name AS number_pool, v.sku AS variant_sku,
       COALESCE((SELECT sum(units) FROM round_restocks s WHERE s.round_id = r.id), 0)::bigint
           AS restocked
FROM rounds r
JOIN offers o ON o.id = r.offer_id
JOIN products p ON p.id = o.product_id
LEFT JOIN number_pools np ON np.id = r.number_pool_id
LEFT JOIN variants v ON v.id = r.variant_id
"""


@dataclass(frozen=True)
class RoundInput:
    offer_id: int
    stock: int
    starts_at: datetime
    ends_at: datetime
    per_account_limit: int = 1
    per_id_limit: int = 1
    hold_seconds: int = 900
    number_choice: bool = False
    number_pool: str | None = None
    channels: tuple[str, ...] = CHANNELS
    variant_sku: str | None = None
    round_id: str | None = None
    buckets: int = 1  # stock buckets over the Redis Cluster (inventory/_buckets.py)


def new_round_id() -> str:
    """A short random id (``r`` + 7 characters): unique across databases sharing one Redis."""
    return "r" + "".join(secrets.choice(_ALPHABET) for _ in range(7))


def validate(inp: RoundInput, now: datetime) -> None:
    if inp.starts_at.tzinfo is None or inp.ends_at.tzinfo is None:
        raise InvalidWindow("start and end need a time zone")
    if inp.ends_at <= inp.starts_at:
        raise InvalidWindow(
            "the round must end after it starts", starts_at=inp.starts_at, ends_at=inp.ends_at
        )
    if inp.ends_at <= now:
        raise InvalidWindow("the round would end in the past", ends_at=inp.ends_at)
    if not 0 < inp.stock <= MAX_STOCK:
        raise InvalidInput(f"stock must be between 1 and {MAX_STOCK}, got {inp.stock}")
    if inp.per_account_limit < 1 or inp.per_id_limit < 1:
        raise InvalidInput("per-account and per-ID limits must be at least 1")
    if not 0 < inp.hold_seconds <= MAX_HOLD_SECONDS:
        raise InvalidInput(f"hold seconds must be between 1 and {MAX_HOLD_SECONDS}")
    bad = [c for c in inp.channels if c not in CHANNELS]
    if not inp.channels or bad:
        raise InvalidInput(
            f"channels must be some of {', '.join(CHANNELS)}, got "
            f"{', '.join(inp.channels) or 'none'}"
        )
    if inp.number_choice and not inp.number_pool:
        raise InvalidInput("number choice needs a number pool (--number-pool)")
    if not 1 <= inp.buckets <= MAX_BUCKETS:
        raise InvalidInput(
            f"buckets must be between 1 and {MAX_BUCKETS}, got {inp.buckets}", field="buckets"
        )
    if inp.buckets > 1 and (inp.number_choice or inp.number_pool):
        raise InvalidInput(
            "a round with a number pool cannot be split into buckets (each number is one "
            "unit of one pool): use --buckets 1",
            field="buckets",
        )
    if inp.buckets > inp.stock:
        raise InvalidInput(
            f"{inp.buckets} buckets need at least {inp.buckets} units of stock, got "
            f"{inp.stock} units",
            field="buckets",
        )
    if inp.round_id is not None and not ROUND_ID.match(inp.round_id):
        raise InvalidInput(f"bad round id {inp.round_id!r} (a-z, 0-9, '-', up to 32)")


async def create_round(
    conn: asyncpg.Connection, operator: Operator, inp: RoundInput
) -> dict[str, Any]:
    validate(inp, datetime.now(UTC))
    round_id = inp.round_id or new_round_id()
    async with conn.transaction():
        offer = await get_offer(conn, inp.offer_id)
        if offer["retired_at"] is not None:
            raise InvalidTransition(f"offer {inp.offer_id} is retired", offer_id=inp.offer_id)
        variant_id = await _variant(conn, offer, inp.variant_sku)
        pool_id = await _pool(conn, inp) if inp.number_pool else None
        try:
            async with conn.transaction():  # savepoint: keeps the outer one usable
                await conn.execute(
                    """INSERT INTO rounds (id, offer_id, variant_id, stock, starts_at, ends_at,
                           per_account_limit, per_id_limit, hold_seconds, number_choice,
                           number_pool_id, channels, status, buckets)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                               CASE WHEN $5 <= now() THEN 'live' ELSE 'scheduled' END, $13)""",
                    round_id,
                    inp.offer_id,
                    variant_id,
                    inp.stock,
                    inp.starts_at,
                    inp.ends_at,
                    inp.per_account_limit,
                    inp.per_id_limit,
                    inp.hold_seconds,
                    inp.number_choice,
                    pool_id,
                    list(dict.fromkeys(inp.channels)),
                    inp.buckets,
                )
        except asyncpg.ExclusionViolationError:
            other = await overlapping(conn, inp.offer_id, inp.starts_at, inp.ends_at)
            raise RoundOverlap(
                f"overlaps round {other} of offer {inp.offer_id}", round_id=other
            ) from None
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "rounds_one_pool":
                raise CatalogConflict(
                    f"number pool {inp.number_pool} already serves an open round",
                    pool=inp.number_pool,
                ) from None
            raise CatalogConflict(
                f"round id {round_id} already exists", round_id=round_id
            ) from None
        await audit(
            conn,
            operator,
            "round.create",
            f"round:{round_id}",
            {
                "offer_id": inp.offer_id,
                "stock": inp.stock,
                "starts_at": inp.starts_at,
                "ends_at": inp.ends_at,
                "channels": list(inp.channels),
                "buckets": inp.buckets,
            },
        )
        return await get_round(conn, round_id)


async def overlapping(
    conn: asyncpg.Connection,
    offer_id: int,
    starts_at: datetime,
    ends_at: datetime,
    exclude: str = "",
) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT id FROM rounds WHERE offer_id = $1 AND status = ANY($2::text[]) AND id <> $5 "
        "AND tstzrange(starts_at, ends_at) && tstzrange($3, $4) ORDER BY starts_at LIMIT 1",
        offer_id,
        list(OPEN_STATUSES),
        starts_at,
        ends_at,
        exclude,
    )
    return value


async def _variant(conn: asyncpg.Connection, offer: dict[str, Any], sku: str | None) -> int | None:
    if sku is None:
        return None
    row = await conn.fetchrow("SELECT id, product_id, offer_id FROM variants WHERE sku = $1", sku)
    if row is None:
        raise CatalogNotFound(f"unknown variant sku {sku!r}", sku=sku)
    if row["product_id"] != offer["product_id"] or row["offer_id"] not in (None, offer["id"]):
        raise InvalidInput(f"variant {sku} does not belong to offer {offer['id']}", sku=sku)
    variant_id: int = row["id"]
    return variant_id


async def _pool(conn: asyncpg.Connection, inp: RoundInput) -> int:
    row = await conn.fetchrow(
        "SELECT n.id, (SELECT count(*) FROM pool_numbers p WHERE p.pool_id = n.id) AS size "
        "FROM number_pools n WHERE n.name = $1 FOR SHARE",
        inp.number_pool,
    )
    if row is None:
        raise CatalogNotFound(f"unknown number pool {inp.number_pool!r}", pool=inp.number_pool)
    if inp.number_choice and row["size"] < inp.stock:
        raise InvalidInput(
            f"stock {inp.stock} exceeds the {row['size']} numbers in pool {inp.number_pool}",
            pool=inp.number_pool,
        )
    pool_id: int = row["id"]
    return pool_id


async def get_round(
    conn: asyncpg.Connection, round_id: str, for_update: bool = False
) -> dict[str, Any]:
    if for_update:
        await conn.execute("SELECT 1 FROM rounds WHERE id = $1 FOR UPDATE", round_id)
    row = await conn.fetchrow(_SELECT + " WHERE r.id = $1", round_id)
    if row is None:
        raise CatalogNotFound(f"unknown round {round_id!r}", round_id=round_id)
    return _round_dict(row)


async def list_rounds(
    conn: asyncpg.Connection, status: str | None = None, offer_id: int | None = None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        _SELECT + " WHERE ($1::text IS NULL OR r.status = $1) AND ($2::bigint IS NULL OR "
        "r.offer_id = $2) ORDER BY r.starts_at, r.id",
        status,
        offer_id,
    )
    return [_round_dict(r) for r in rows]


def _round_dict(row: asyncpg.Record) -> dict[str, Any]:
    data = dict(row.items())
    data["channels"] = list(data["channels"])
    data["armed"] = data["armed_at"] is not None
    data["stocked"] = data["stock"] + data["restocked"]
    data.pop("number_pool_id")
    data.pop("variant_id")
    return data


# copied as they are from the offer's row / the round's row
_OFFER_TERMS = ("product_name", "product_kind", "price_fen", "currency", "monthly_fee_fen",
                "data_mb", "voice_minutes", "agreement_version")  # fmt: skip
_SPEC_FIELDS = ("stock", "starts_at", "ends_at", "per_account_limit", "per_id_limit",
                "hold_seconds", "number_choice", "status", "buckets")  # fmt: skip


async def offer_snapshot(
    conn: asyncpg.Connection, offer_id: int, variant_sku: str | None = None
) -> OfferSnapshot:
    """What every order of a round of ``offer_id`` (and ``variant_sku``) keeps."""
    offer = await get_offer(conn, offer_id)
    variant = None
    if variant_sku is not None:
        vrow = await conn.fetchrow(
            "SELECT sku, colour, storage FROM variants WHERE sku = $1", variant_sku
        )
        variant = None if vrow is None else Variant(vrow["sku"], vrow["colour"], vrow["storage"])
    return OfferSnapshot(
        offer_id=str(offer["id"]),
        offer_name=offer["name"],
        product_id=str(offer["product_id"]),
        gifts=tuple(Gift(tuple(g.items())) for g in offer["gifts"]),
        variant=variant,
        **{k: offer[k] for k in _OFFER_TERMS},
    )


async def build_spec(conn: asyncpg.Connection, rnd: dict[str, Any]) -> RoundSpec:
    """The RoundSpec for ``rnd`` with the offer snapshot every order of the round keeps."""
    snapshot = await offer_snapshot(conn, rnd["offer_id"], rnd["variant_sku"])
    return RoundSpec(
        round_id=rnd["id"],
        offer_id=snapshot.offer_id,
        channels=tuple(rnd["channels"]),
        agreement_version=snapshot.agreement_version,
        offer=snapshot.to_dict(),
        **{k: rnd[k] for k in _SPEC_FIELDS},
    )
