"""Helpers for tests that need a catalog: a SIM-card product and its 20-yuan offer in one go."""

from __future__ import annotations

from typing import Any

import asyncpg

from catalog import OfferTerms, add_offer, add_product
from flashsale.core.audit import Operator


async def sim_card_offer(
    conn: asyncpg.Connection,
    op: Operator,
    product_name: str,
    *,
    name: str = "20-yuan card",
    agreement_version: str = "v1",
    gifts: list[dict[str, Any]],
) -> dict[str, Any]:
    """A new ``sim_card`` product and a 2000-fen offer of 1024 MB on it (the offer's row)."""
    product = await add_product(conn, op, "sim_card", product_name)
    return await add_offer(
        conn,
        op,
        OfferTerms(
            product_id=product["id"],
            name=name,
            price_fen=2000,
            data_mb=1024,
            agreement_version=agreement_version,
            gifts=gifts,
        ),
    )
