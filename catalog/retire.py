"""Retiring a product or an offer: it gets no new offers or rounds; what was sold stays.

A product or offer with a round still open (scheduled, live or paused) is refused: close the
round first. Retiring a product retires its offers. Retiring twice changes nothing.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from catalog.errors import CatalogNotFound, InvalidTransition
from catalog.rounds import OPEN_STATUSES
from flashsale.core.audit import Operator, audit

KINDS = ("product", "offer")


async def retire(
    conn: asyncpg.Connection, operator: Operator, what: str, ident: int
) -> dict[str, Any]:
    """Retire product or offer ``ident`` (``what`` is one of :data:`KINDS`)."""
    by = "o.product_id" if what == "product" else "o.id"
    table = "products" if what == "product" else "offers"
    async with conn.transaction():
        retired_at = await conn.fetchrow(
            f"SELECT retired_at FROM {table} WHERE id = $1 FOR UPDATE",  # noqa: S608 - constant
            ident,
        )
        if retired_at is None:
            raise CatalogNotFound(f"unknown {what} {ident}", ident=ident)
        if retired_at["retired_at"] is not None:
            return {what: ident, "retired_at": retired_at["retired_at"], "changed": False}
        open_rounds = await conn.fetch(
            f"SELECT r.id FROM rounds r JOIN offers o ON o.id = r.offer_id "  # noqa: S608
            f"WHERE {by} = $1 AND r.status = ANY($2::text[]) ORDER BY r.starts_at",
            ident,
            list(OPEN_STATUSES),
        )
        if open_rounds:
            ids = ", ".join(r["id"] for r in open_rounds)
            raise InvalidTransition(
                f"{what} {ident} has open rounds ({ids}): close them first "
                "(`flashsale round close ROUND`)",
                rounds=[r["id"] for r in open_rounds],
            )
        at = await conn.fetchval(
            f"UPDATE {table} SET retired_at = now() WHERE id = $1 RETURNING retired_at",  # noqa: S608
            ident,
        )
        offers = await conn.fetch(
            f"UPDATE offers o SET retired_at = $2 WHERE {by} = $1 AND o.retired_at IS NULL "  # noqa: S608
            "RETURNING o.id",
            ident,
            at,
        )
        retired_offers = sorted({r["id"] for r in offers} | ({ident} if what == "offer" else set()))
        await audit(conn, operator, f"{what}.retire", f"{what}:{ident}", {"offers": retired_offers})
    return {what: ident, "retired_at": at, "offers": retired_offers, "changed": True}
