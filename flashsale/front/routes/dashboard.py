"""The ops dashboard's data: ``GET /api/admin/dashboard`` (admin credential required).

:class:`OpsSampler` reads, per armed round, the inventory counters (one script call), the outbox
backlog (Redis) and orders persisted by status (one grouped PostgreSQL query for all rounds);
once for the whole system, the writer group's Kafka lag, fulfillment (shipments by state, paid
orders without a shipment, dead letters) and the pipeline's parked events (``parked``:
unresolved count by process and reason, the latest few; see ``flashsale/core/parked.py`` and
``flashsale parked list``) — the round figures all read by :mod:`checkout.pipeline.observe`. A
snapshot is reused for ``SNAPSHOT_TTL`` seconds; the Kafka lag (a costlier admin round trip) is
refreshed in the background at most every ``LAG_TTL`` seconds, so many open dashboards and
``/metrics`` scrapes cost little. The PostgreSQL pool is opened on first use: a front without a
database still serves shoppers.

``?rounds=a,b`` pins the rounds shown (the page passes its own ``?rounds=`` through).

``POST /api/admin/rounds/{round_id}/{pause|resume|close}`` (admin credential) is the page's
buttons: the same :mod:`catalog.control` calls as ``flashsale round pause|resume|close``,
audited as the operator ``ops-dashboard``; repeating one changes nothing.

A missing credential and a wrong one are told apart ("admin credential required" vs "wrong
admin token"); both are 401 ``unauthorized``.

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

from catalog import control
from catalog.errors import CatalogError, CatalogNotFound, RoundStateUnavailable
from checkout.pipeline import observe
from flashsale.core.audit import Operator, verify_token
from flashsale.core.kafka import WRITER_GROUP
from flashsale.core.parked import summary as parked_summary
from flashsale.core.settings import Settings
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.routes.rounds import RoundCache
from flashsale.front.state import app_state
from inventory import Inventory, InventoryError

log = logging.getLogger(__name__)
SNAPSHOT_TTL = 0.5
LAG_TTL = 3.0
LAST_SALE_TTL = 5.0  # the last sale's curve: a scan of the round's orders, not every poll
PG_RETRY = 5.0
MAX_ROUNDS = 50


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
        self._lag = observe.Lag(settings, LAG_TTL)
        self._snapshots: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._snapshot_lock = asyncio.Lock()
        self._last_sales: dict[tuple[str, ...], tuple[float, dict[str, observe.LastSale]]] = {}
        self._closed = False

    @property
    def inventory(self) -> Inventory:
        return self._inventory

    async def last_sales(
        self, pool: asyncpg.Pool, round_ids: list[str]
    ) -> dict[str, observe.LastSale]:
        """Each round's last sale (for the charts while idle), re-read every LAST_SALE_TTL s."""
        key = tuple(sorted(round_ids))
        cached = self._last_sales.get(key)
        if cached is None or time.monotonic() - cached[0] > LAST_SALE_TTL:
            if len(self._last_sales) > 32:
                self._last_sales.clear()
            cached = (time.monotonic(), await observe.last_sales(pool, round_ids))
            self._last_sales[key] = cached
        return cached[1]

    def forget(self) -> None:
        """Drop the cached snapshots (after a change, the next poll reads afresh)."""
        self._snapshots.clear()

    async def aclose(self) -> None:
        """Idempotent: stop the lag refresh, close the pool."""
        self._closed = True
        await self._lag.aclose()
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
        return self._lag.peek()

    async def fulfillment(self, pool: asyncpg.Pool | None) -> dict[str, Any] | None:
        """Shipments by state, backlog (paid orders without a shipment) and dead letters."""
        if pool is None:
            return None
        ship = await observe.shipments(pool)
        return {"shipments": ship.by_state, "backlog": ship.backlog,
                "dead_letters": ship.dead_letters}  # fmt: skip

    # -- snapshot ----------------------------------------------------------------------------

    async def _round(self, rid: str) -> dict[str, Any] | None:
        try:
            st = await self._inventory.stats(rid)
            backlog = await observe.outbox_backlog(self._redis, rid)
        except InventoryError:
            return None
        view = self._rounds.rounds.get(rid, {})
        name = (view.get("offer") or {}).get("offer_name")  # see checkout.offer.OfferSnapshot
        sold_out = None if st.sold_out_at_ms is None else st.sold_out_at_ms / 1000
        starts, ends = view.get("starts_at"), view.get("ends_at")
        stage = None
        if starts is not None and ends is not None:  # the same stages as `round report`
            stage = observe.stage(st.status, st.left, sold_out, starts / 1000, ends / 1000,
                                  time.time())  # fmt: skip
        return {
            "round_id": rid, "status": st.status, "stage": stage, "name": name,
            "starts_at": view.get("starts_at"), "ends_at": view.get("ends_at"),
            **observe.counters(st), "orders": st.orders,
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
        last: dict[str, observe.LastSale] = {}
        if pool is not None:
            try:
                last = await self.last_sales(pool, [r["round_id"] for r in rounds])
                persisted = {
                    rid: {s: c.orders for s, c in p.by_status.items()}
                    for rid, p in (
                        await observe.persisted(pool, [r["round_id"] for r in rounds])
                    ).items()
                }
                fulfillment = await self.fulfillment(pool)
                parked = await parked_summary(pool)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("dashboard: PostgreSQL read failed: %s", exc)
        for r in rounds:
            r["persisted"] = None if persisted is None else persisted.get(r["round_id"], {})
            sale = last.get(r["round_id"])
            r["last_sale"] = None if sale is None else {
                "at": sale.at, "orders": sale.orders, "per_second": sale.per_second}  # fmt: skip
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
        with contextlib.suppress(aioredis.RedisError, OSError):
            lengths = await observe.outbox_lengths(self._redis, list(self._rounds.rounds))
            outbox = [({"round": r}, float(n)) for r, n in lengths.items()]
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
                parked = await parked_summary(pool, latest=0)
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
    settings = app_state(request).settings
    challenge = {"WWW-Authenticate": 'Bearer realm="ops"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthorized", "admin credential required: Authorization: Bearer <admin "
                       "token>", headers=challenge)  # fmt: skip
    if not verify_token(token.strip(), settings):
        raise ApiError("unauthorized", "wrong admin token", headers=challenge)


DASHBOARD = Operator(actor="ops-dashboard")
ACTIONS = {"pause": control.pause, "resume": control.resume, "close": control.close}


async def round_control(request: Request) -> Response:
    """Pause, resume or close a round from the dashboard (admin credential; audited)."""
    require_admin(request)
    round_id = request.path_params["round_id"]
    action = request.path_params["action"]
    call = ACTIONS.get(action)
    if call is None:
        raise ApiError("not_found", f"no round action {action!r} (pause, resume, close)")
    ops = app_state(request).ops
    pool = await ops.pool()
    if pool is None:
        raise ApiError("unavailable", "PostgreSQL is unavailable: the change was not made")
    try:
        async with pool.acquire() as conn:
            outcome = await call(conn, ops.inventory, DASHBOARD, round_id)
    except CatalogNotFound as exc:
        raise ApiError("not_found", exc.message) from None
    except RoundStateUnavailable as exc:
        raise ApiError("unavailable", exc.message) from None
    except CatalogError as exc:  # e.g. pausing a sold-out or closed round
        raise ApiError("round_not_changeable", exc.message) from None
    ops.forget()
    body = {"round_id": round_id, "action": action, "changed": outcome.changed,
            "status": outcome.round["status"]}  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def dashboard(request: Request) -> Response:
    require_admin(request)
    raw = request.query_params.get("rounds", "")
    only = tuple(sorted({r for r in raw.split(",") if r}))[:MAX_ROUNDS]
    snap = await app_state(request).ops.snapshot(only)
    return JSONResponse(snap, headers={"Cache-Control": "no-store"})
