"""Waiting for a worker's sold-out knowledge (it is learnt in the background)."""

from __future__ import annotations

import asyncio

from inventory import Inventory


async def until_known(inventory: Inventory, round_id: str, limit: float = 5.0) -> None:
    """Return once ``inventory`` answers the sold-out round's new keys itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not inventory.sold_out_hint(round_id):
        if loop.time() > deadline:
            raise AssertionError(f"no sold-out knowledge of {round_id} after {limit} s")
        await asyncio.sleep(0.01)
