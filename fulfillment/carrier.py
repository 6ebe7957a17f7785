"""Carriers behind an HTTP-style async client interface, and a simulated one.

A carrier books a parcel under an idempotency key (the same key always returns the same
booking, as real carrier APIs promise) and reports tracking states over time::

    booked → picked_up → in_transit → delivered        (or → failed: lost / returned)

:class:`SimulatedCarrier` stands in for the external API: configurable latency, timeouts,
transient (5xx / timeout) and permanent (4xx) failures. Its own "server side" store is the
``sim_carrier_bookings`` table, so a booking made just before a client crashed is still there
when the client retries with the same key. A timeout is raised *after* the booking was made,
like a real lost response.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
import orjson

from fulfillment.errors import CarrierRejected, CarrierTimeout, CarrierTransient

T = TypeVar("T")
R = TypeVar("R")
STATES = ("booked", "picked_up", "in_transit", "delivered")
FINAL_STATES = ("delivered", "failed")


@dataclass(frozen=True)
class Parcel:
    order_id: str
    address: dict[str, Any]
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class Booking:
    carrier: str
    tracking_no: str
    estimate: datetime  # promised delivery time
    booked_at: datetime


@dataclass(frozen=True)
class Tracking:
    tracking_no: str
    state: str
    history: list[tuple[str, datetime]]  # every state reached so far, oldest first


class Carrier(Protocol):
    @property
    def name(self) -> str: ...

    async def book(self, idempotency_key: str, parcel: Parcel) -> Booking: ...

    async def track(self, tracking_no: str) -> Tracking: ...


@dataclass
class CarrierConfig:
    name: str = "simexpress"
    latency_ms: int = 20  # mean round trip; each request takes 0.5x to 1.5x of it
    timeout_ms: int = 5_000  # the client gives up waiting after this
    transient_rate: float = 0.0  # share of requests answered 503
    permanent_rate: float = 0.0  # share of parcels (by key) refused 422
    lost_rate: float = 0.0  # share of parcels (by key) lost in transit → failed
    step_seconds: float = 5.0  # time between tracking states
    transit_seconds: float = 2 * 86_400  # the estimate promised at booking
    seed: int | None = None


@dataclass
class CarrierStats:
    requests: int = 0
    transient: int = 0
    timeouts: int = 0
    rejected: int = 0


def _share(key: str, salt: str) -> float:
    """A stable number in [0, 1) for ``key`` (the same parcel always meets the same fate)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class SimulatedCarrier:
    pool: asyncpg.Pool
    config: CarrierConfig = field(default_factory=CarrierConfig)
    stats: CarrierStats = field(default_factory=CarrierStats)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)  # noqa: S311 - a simulation, not crypto
        self._store = Coalesced(self._store_many)
        self._lookup = Coalesced(self._lookup_many)

    @property
    def name(self) -> str:
        return self.config.name

    async def _latency(self) -> float:
        return self.config.latency_ms / 1000 * self._rng.uniform(0.5, 1.5)

    async def book(self, idempotency_key: str, parcel: Parcel) -> Booking:
        cfg = self.config
        self.stats.requests += 1
        latency = await self._latency()
        timeout = cfg.timeout_ms / 1000
        await asyncio.sleep(min(latency, timeout) / 2)  # the request travels
        if self._rng.random() < cfg.transient_rate:
            self.stats.transient += 1
            raise CarrierTransient("carrier answered 503 Service Unavailable")
        problem = _address_problem(parcel.address)
        if problem is None and _share(idempotency_key, "reject") < cfg.permanent_rate:
            problem = "address not served"
        if problem is not None:
            self.stats.rejected += 1
            raise CarrierRejected(f"carrier answered 422: {problem}", code="carrier.bad_address")
        booking = await self._store((idempotency_key, parcel))
        if latency > timeout:
            await asyncio.sleep(timeout / 2)
            self.stats.timeouts += 1
            raise CarrierTimeout(f"no answer from the carrier within {cfg.timeout_ms} ms")
        await asyncio.sleep(latency / 2)  # the response travels
        return booking

    async def _store_many(self, batch: list[tuple[str, Parcel]]) -> list[Booking]:
        """The carrier's side keeps the bookings of the requests that arrived together in one
        statement (as a server batches its writes); each request still gets its own answer."""
        parcels: dict[str, Parcel] = {}
        requests: dict[str, int] = {}
        for key, parcel in batch:
            parcels.setdefault(key, parcel)
            requests[key] = requests.get(key, 0) + 1
        keys = sorted(parcels)  # one lock order
        rows = await self.pool.fetch(
            _STORE,
            self.name,
            keys,
            [_tracking_no(self.name, k) for k in keys],
            [
                orjson.dumps({"order_id": parcels[k].order_id, "items": parcels[k].items}).decode()
                for k in keys
            ],
            [requests[k] for k in keys],
            float(self.config.transit_seconds),
        )
        stored = {
            r["idempotency_key"]: Booking(
                self.name, r["tracking_no"], r["estimate"], r["created_at"]
            )
            for r in rows
        }
        return [stored[key] for key, _ in batch]

    async def _lookup_many(self, numbers: list[str]) -> list[asyncpg.Record | None]:
        rows = await self.pool.fetch(
            "SELECT tracking_no, idempotency_key, created_at, clock_timestamp() AS now "
            "FROM sim_carrier_bookings WHERE carrier = $1 AND tracking_no = ANY($2::text[])",
            self.name,
            sorted(set(numbers)),
        )
        found = {r["tracking_no"]: r for r in rows}
        return [found.get(n) for n in numbers]

    async def track(self, tracking_no: str) -> Tracking:
        self.stats.requests += 1
        await asyncio.sleep(await self._latency())
        if self._rng.random() < self.config.transient_rate:
            self.stats.transient += 1
            raise CarrierTransient("carrier answered 503 Service Unavailable")
        row = await self._lookup(tracking_no)
        if row is None:
            raise CarrierRejected(f"carrier answered 404 for {tracking_no}", code="carrier.unknown")
        step = timedelta(seconds=self.config.step_seconds)
        created: datetime = row["created_at"]
        reached = int((row["now"] - created) / step) if step else len(STATES)
        history = [(s, created + i * step) for i, s in enumerate(STATES[: reached + 1])]
        lost = _share(row["idempotency_key"], "lost") < self.config.lost_rate
        if lost and len(history) >= 3:  # lost after it went into transit
            history = [*history[:3], ("failed", created + 3 * step)]
        return Tracking(tracking_no, history[-1][0], history)


class Coalesced(Generic[T, R]):
    """Calls made in the same event-loop tick are answered by one call of ``many`` (a list of
    arguments in, the answers in the same order out); a failure of ``many`` is every caller's.
    """

    def __init__(self, many: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._many = many
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, arg: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((arg, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the calls of this tick join
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                answers = await self._many([arg for arg, _ in batch])
            except BaseException as exc:  # every caller's; a cancellation also propagates
                for _, future in batch:
                    if future.done():
                        continue
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:
                        future.cancel()
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)


_STORE = """
INSERT INTO sim_carrier_bookings (carrier, idempotency_key, tracking_no, parcel, requests,
                                  estimate)
SELECT $1, k, t, p::jsonb, n, clock_timestamp() + make_interval(secs => $6)
FROM unnest($2::text[], $3::text[], $4::text[], $5::int[]) AS b(k, t, p, n)
ON CONFLICT (carrier, idempotency_key)
DO UPDATE SET requests = sim_carrier_bookings.requests + EXCLUDED.requests
RETURNING idempotency_key, tracking_no, estimate, created_at"""


def _tracking_no(carrier: str, key: str) -> str:
    return "SX" + hashlib.sha256(f"{carrier}:{key}".encode()).hexdigest()[:14].upper()


def _address_problem(address: dict[str, Any]) -> str | None:
    if not address:
        return "no delivery address"
    text = " ".join(str(v) for v in address.values())
    if "UNDELIVERABLE" in text.upper():
        return "address not deliverable"
    return None
