"""The ops dashboard's data: ``GET /api/admin/dashboard`` (admin credential required).

:class:`OpsSampler` reads, per armed round, the inventory counters (one script call), the outbox
backlog (Redis), orders persisted by status (one grouped PostgreSQL query for all rounds), and,
once for the whole system, the writer group's Kafka lag and the fulfillment tables when they
exist (``shipments``, a dead-letter table). A snapshot is reused for ``SNAPSHOT_TTL`` seconds and
the pipeline's parked events (``parked``: unresolved count by process and reason, the latest
few; see ``checkout/pipeline/parking.py`` and ``flashsale parked list``). The Kafka lag (a costlier
admin
round trip) is refreshed in the background at most every
``LAG_TTL`` seconds, so many open dashboards and ``/metrics`` scrapes cost little. The
PostgreSQL pool is opened on first use: a front without a database still serves shoppers.

``?rounds=a,b`` pins the rounds shown (the page passes its own ``?rounds=`` through).

Reservations per second are derived by the page from successive samples (``server_time`` and
each round's ``orders`` counter), which stays right when polls land on different workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response

from checkout.pipeline import parking, relay
from checkout.pipeline._sources import kafka_lag, outbox_backlog
from flashsale.core.audit import verify_token
from flashsale.core.kafka import WRITER_GROUP
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.routes.rounds import RoundCache
from inventory import Inventory, InventoryError

log = logging.getLogger(__name__)
SNAPSHOT_TTL = 0.5
LAG_TTL = 3.0
PG_RETRY = 5.0
MAX_ROUNDS = 50
_DEAD_LETTER_TABLES = ("fulfillment_dead_letters", "dead_letters", "shipment_dead_letters",
                       "fulfillment_dlq", "dead_letter")  # fmt: skip


class OpsSampler:
    def __init__(self, settings: Settings, redis: aioredis.Redis, inventory: Inventory,
                 rounds: RoundCache) -> None:  # fmt: skip
        self.settings = settings
        self._redis = redis
        self._inventory = inventory
        self._rounds = rounds
        self._pool: asyncpg.Pool | None = None
        self._pool_failed_at = 0.0
        self._pool_lock = asyncio.Lock()
        self._lag: int | None = None
        self._lag_at = 0.0
        self._lag_task: asyncio.Task[None] | None = None
        self._snapshots: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._snapshot_lock = asyncio.Lock()
        self._closed = False

    async def aclose(self) -> None:
        """Idempotent: stop the lag refresh, close the pool."""
        self._closed = True
        task, self._lag_task = self._lag_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- sources ---------------------------------------------------------------------------

    async def pool(self) -> asyncpg.Pool | None:
        if self._pool is not None or self._closed:
            return self._pool
        if time.monotonic() - self._pool_failed_at < PG_RETRY:
            return None
        async with self._pool_lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self.settings.database_url, min_size=0, max_size=2, timeout=3,
                        command_timeout=5,
                    )  # fmt: skip
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    self._pool_failed_at = time.monotonic()
                    log.warning("dashboard: PostgreSQL unavailable: %s", exc)
        return self._pool

    def lag(self) -> tuple[int | None, float | None]:
        """The writer group's lag (cached) and its age in seconds; refreshes in the background."""
        now = time.monotonic()
        if now - self._lag_at > LAG_TTL and (self._lag_task is None or self._lag_task.done()):
            self._lag_task = asyncio.create_task(self._refresh_lag())
        age = None if self._lag_at == 0 else round(now - self._lag_at, 1)
        return self._lag, age

    async def _refresh_lag(self) -> None:
        topic = Topics(self.settings.topic_prefix).orders
        self._lag = await kafka_lag(self.settings, topic, WRITER_GROUP)
        self._lag_at = time.monotonic()

    async def _persisted(self, pool: asyncpg.Pool, ids: list[str]) -> dict[str, dict[str, int]]:
        rows = await pool.fetch(
            "SELECT round_id, status, count(*) AS n FROM orders WHERE round_id = ANY($1::text[]) "
            "GROUP BY round_id, status",
            ids,
        )
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["round_id"], {})[r["status"]] = int(r["n"])
        return out

    async def fulfillment(self, pool: asyncpg.Pool | None) -> dict[str, Any] | None:
        """Shipments by state, backlog (paid orders without a shipment) and dead letters — when
        the fulfillment tables exist; None before they do."""
        if pool is None:
            return None
        cols = await pool.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
            ["shipments", *_DEAD_LETTER_TABLES],
        )
        tables: dict[str, set[str]] = {}
        for c in cols:
            tables.setdefault(c["table_name"], set()).add(c["column_name"])
        if not tables:
            return None
        result: dict[str, Any] = {"shipments": None, "backlog": None, "dead_letters": None}
        ship = tables.get("shipments")
        if ship:
            state = next((c for c in ("state", "status") if c in ship), None)
            if state:
                rows = await pool.fetch(
                    f'SELECT "{state}"::text AS s, count(*) AS n FROM shipments GROUP BY 1'  # noqa: S608
                )
                result["shipments"] = {r["s"]: int(r["n"]) for r in rows}
            if "order_id" in ship:
                result["backlog"] = int(await pool.fetchval(
                    "SELECT count(*) FROM orders o WHERE o.status = 'paid' AND NOT EXISTS "
                    "(SELECT 1 FROM shipments s WHERE s.order_id = o.id)"))  # fmt: skip
        for name in _DEAD_LETTER_TABLES:
            if name in tables:
                result["dead_letters"] = int(await pool.fetchval(f'SELECT count(*) FROM "{name}"'))  # noqa: S608
                break
        return result

    # -- snapshot ----------------------------------------------------------------------------

    async def _round(self, rid: str) -> dict[str, Any] | None:
        try:
            st = await self._inventory.stats(rid)
            backlog = await outbox_backlog(self._redis, rid, relay.GROUP)
        except InventoryError:
            return None
        view = self._rounds.rounds.get(rid, {})
        offer = view.get("offer") or {}
        name = offer.get("offer_name") or offer.get("name")
        return {
            "round_id": rid, "status": st.status, "name": name,
            "starts_at": view.get("starts_at"), "ends_at": view.get("ends_at"),
            "stocked": st.stocked, "left": st.left, "held": st.held, "paid": st.paid,
            "released": st.released, "refund_required": st.refund_required, "orders": st.orders,
            "sold_out_at": st.sold_out_at_ms, "outbox": backlog,
        }  # fmt: skip

    async def _take(self, only: tuple[str, ...]) -> dict[str, Any]:
        if only:
            ids = list(only)
        else:  # the latest-starting rounds still open
            now = time.time() * 1000
            current = {k: v for k, v in self._rounds.rounds.items() if v["ends_at"] > now}
            ids = sorted(current, key=lambda r: -int(current[r]["starts_at"]))
        ids = ids[:MAX_ROUNDS]
        gate = asyncio.Semaphore(8)

        async def one(rid: str) -> dict[str, Any] | None:
            async with gate:
                return await self._round(rid)

        rounds = [r for r in await asyncio.gather(*(one(r) for r in ids)) if r is not None]
        pool = await self.pool()
        persisted: dict[str, dict[str, int]] | None = None
        fulfillment = None
        parked = None
        if pool is not None:
            try:
                persisted = await self._persisted(pool, [r["round_id"] for r in rounds])
                fulfillment = await self.fulfillment(pool)
                parked = await parking.summary(pool)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("dashboard: PostgreSQL read failed: %s", exc)
        for r in rounds:
            r["persisted"] = None if persisted is None else persisted.get(r["round_id"], {})
        lag, lag_age = self.lag()
        return {
            "server_time": int(time.time() * 1000),
            "rounds": rounds,
            "kafka_lag": lag,
            "kafka_lag_age_s": lag_age,
            "postgres": pool is not None,
            "fulfillment": fulfillment,
            "parked": parked,
        }

    async def snapshot(self, only: tuple[str, ...] = ()) -> dict[str, Any]:
        """Figures of ``only`` these rounds, or of the latest open ones (at most MAX_ROUNDS)."""
        async with self._snapshot_lock:
            now = time.monotonic()
            cached = self._snapshots.get(only)
            if cached is None or now - cached[0] > SNAPSHOT_TTL:
                if len(self._snapshots) > 32:
                    self._snapshots.clear()
                cached = (now, await self._take(only))
                self._snapshots[only] = cached
            return cached[1]

    async def gauges(self) -> dict[str, tuple[str, list[tuple[dict[str, str], float]]]]:
        """Scrape-time figures for ``/metrics`` (see flashsale.front.metrics)."""
        stock = [({"round": rid}, float(r["left"])) for rid, r in self._rounds.rounds.items()]
        outbox: list[tuple[dict[str, str], float]] = []
        rids = list(self._rounds.rounds)
        if rids:
            with contextlib.suppress(aioredis.RedisError, OSError):
                from inventory.keys import RoundKeys

                async with self._redis.pipeline(transaction=False) as pipe:
                    for rid in rids:
                        pipe.xlen(RoundKeys(rid).outbox)
                    lengths = await pipe.execute()
                outbox = [({"round": r}, float(n)) for r, n in zip(rids, lengths, strict=True)]
        gauges: dict[str, tuple[str, list[tuple[dict[str, str], float]]]] = {
            "flashsale_stock_left": ("Units left per armed round.", stock),
            "flashsale_outbox_length": ("Entries in each round's outbox stream.", outbox),
        }
        lag, _ = self.lag()
        if lag is not None:
            gauges["flashsale_kafka_consumer_lag"] = (
                "Order events not yet committed by the writer group.", [({"group": WRITER_GROUP},
                                                                          float(lag))])  # fmt: skip
        pool = await self.pool()
        if pool is not None:
            try:
                ful = await self.fulfillment(pool)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                ful = None
            if ful and ful.get("shipments") is not None:
                gauges["flashsale_shipments"] = ("Shipments by state.", [
                    ({"state": s}, float(n)) for s, n in ful["shipments"].items()])  # fmt: skip
            try:
                parked = await parking.summary(pool, latest=0)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                parked = None
            if parked is not None:
                gauges["flashsale_parked_events"] = (
                    "Parked pipeline events not yet retried or resolved, by process and reason.",
                    [({"process": x["process"], "reason": x["reason"]}, float(x["count"]))
                     for x in parked["by_reason"]],
                )  # fmt: skip
        return gauges


def require_admin(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    settings = request.app.state.fs.settings
    if scheme.lower() != "bearer" or not verify_token(token.strip() or None, settings):
        raise ApiError("unauthorized", "admin credential required: Authorization: Bearer <admin "
                       "token>", headers={"WWW-Authenticate": 'Bearer realm="ops"'})  # fmt: skip


async def dashboard(request: Request) -> Response:
    require_admin(request)
    raw = request.query_params.get("rounds", "")
    only = tuple(sorted({r for r in raw.split(",") if r}))[:MAX_ROUNDS]
    snap = await request.app.state.ops.snapshot(only)
    return JSONResponse(snap, headers={"Cache-Control": "no-store"})
