"""``GET /api/rounds`` and ``/api/rounds/{id}``, served from a per-worker cache that a background
task refreshes from Redis a few times a second — never a database query per request."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response

from flashsale.core.retry import sleep_unless_stopped
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.state import app_state
from inventory import Inventory, InventoryError
from inventory.keys import ARMED_ROUNDS

log = logging.getLogger(__name__)
ENDED_REFRESH = 30.0  # seconds between looks at a round that has ended or closed


class RoundCache:
    """Armed rounds as shoppers see them; ``refresh()`` replaces the whole view at once."""

    def __init__(self, redis: aioredis.Redis, inventory: Inventory, interval: float = 0.25) -> None:
        self._redis = redis
        self._inventory = inventory
        self.interval = interval
        self.rounds: dict[str, dict[str, Any]] = {}
        self.refreshed_at = 0.0

    async def refresh(self, stop: asyncio.Event | None = None) -> None:
        """Look at every armed round again; once ``stop`` is set, no new look starts (the last
        view is kept), so a worker shutting down waits only for the calls in flight."""
        members = await self._redis.smembers(ARMED_ROUNDS)  # type: ignore[misc]
        ids = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        gate = asyncio.Semaphore(8)  # a few connections, however many rounds are armed
        now = time.time()
        now_ms = int(now * 1000)

        async def describe(rid: str) -> dict[str, Any] | None:
            known = self.rounds.get(rid)
            if (
                known is not None
                and _phase(known, now_ms) == "ended"
                and now - known["described_at"] < ENDED_REFRESH
            ):
                return known  # finished rounds change rarely: look again now and then
            async with gate:
                if stop is not None and stop.is_set():
                    return known
                found = await self._inventory.describe(rid)
            if found is not None:
                found["described_at"] = now
            return found

        described = await asyncio.gather(*(describe(rid) for rid in ids))
        self.rounds = {d["round_id"]: d for d in described if d is not None}
        self.refreshed_at = now

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until ``stop``; a failed refresh keeps the last view and is retried."""
        while not stop.is_set():
            try:
                await self.refresh(stop)
            except (InventoryError, OSError, aioredis.RedisError) as exc:
                log.warning("round cache refresh failed: %s", exc)
            await sleep_unless_stopped(stop, self.interval)

    def view(self, round_id: str, now_ms: int) -> dict[str, Any] | None:
        r = self.rounds.get(round_id)
        if r is None:
            return None
        phase = _phase(r, now_ms)
        return {
            **{k: v for k, v in r.items() if k != "described_at"},
            "phase": phase,
            "starts_in_ms": max(0, r["starts_at"] - now_ms),
            "ends_in_ms": max(0, r["ends_at"] - now_ms),
        }


def _phase(r: dict[str, Any], now_ms: int) -> str:
    """What a shopper should do now: wait, buy, or nothing more."""
    if r["status"] == "closed" or now_ms >= r["ends_at"]:
        return "ended"
    if r["status"] == "paused":
        return "paused"
    if r["left"] <= 0:
        return "sold_out"
    if now_ms < r["starts_at"]:
        return "upcoming"
    return "live"


def _cache(request: Request) -> RoundCache:
    return app_state(request).rounds


async def list_rounds(request: Request) -> Response:
    now_ms = int(time.time() * 1000)
    cache = _cache(request)
    views = [cache.view(rid, now_ms) for rid in cache.rounds]
    current = [v for v in views if v is not None and v["phase"] != "ended"]
    current.sort(key=lambda v: (v["starts_at"], v["round_id"]))
    return JSONResponse({"server_time": now_ms, "rounds": current})


async def get_round(request: Request) -> Response:
    now_ms = int(time.time() * 1000)
    view = _cache(request).view(request.path_params["round_id"], now_ms)
    if view is None:
        raise ApiError("not_found", "no such round")
    return JSONResponse({"server_time": now_ms, **view})
