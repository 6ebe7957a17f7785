"""The fulfillment worker (`flashsale fulfill`): a member of the ``flashsale-fulfillment``
consumer group on the orders topic.

One loop, each pass:

1. **intake** — ``getmany`` a batch of order events → one PostgreSQL transaction into
   ``fulfillment_orders`` → commit the batch's offsets (only after the PG commit); an event
   PostgreSQL rejects permanently (or one that does not decode) is isolated by bisecting the
   batch and parked with its reason (:mod:`flashsale.core.parked`), never fatal — the batch
   handling and the loop are the shared consumer machinery (:mod:`flashsale.core.consumer`);
2. **work** — claim a batch of up to ``batch`` paid orders (``FOR UPDATE SKIP LOCKED`` + a
   lease), allocate and check the whole batch in one transaction (:mod:`fulfillment._allocate`),
   book each order with the carrier under its idempotency key (``concurrency`` requests in
   flight), record the batch's shipments in one transaction (:mod:`fulfillment._ship`). Every
   outcome is per order: a retriable failure reschedules that order with exponential backoff
   and jitter; a permanent one, or the last attempt, dead-letters it with the reason;
3. **track** — every ``track_every`` seconds poll the carrier for open shipments;
4. **publish** — send the PostgreSQL outbox (shipment events, dead letters) to Kafka.

Exactly one shipment per paid order: the consumer group splits partitions, claims never overlap
while a lease holds, a crashed worker's lease expires and the next claimant books again with the
*same* idempotency key (same booking), and ``shipments.order_id`` is unique.

On :meth:`Fulfiller.stop` (SIGTERM) the orders in hand are finished and recorded, the outbox
flushed, then the loop exits. Kafka / PostgreSQL outages are retried with bounded backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from checkout.events import OrderEvent
from flashsale.core.consumer import RETRIABLE, Batch, ConsumerLoop, Member, sink_batch
from flashsale.core.kafka import FULFILLMENT, FULFILLMENT_GROUP, started_producer
from flashsale.core.retry import Backoff
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from fulfillment import _outbox
from fulfillment._allocate import allocate
from fulfillment._intake import backfill, intake
from fulfillment._ship import Booked, dead_letter, record_bookings, reschedule
from fulfillment.carrier import Carrier, Parcel
from fulfillment.errors import FulfillmentError
from fulfillment.tracking import track_once
from fulfillment.work import Work

log = logging.getLogger("flashsale.fulfillment")
GROUP = FULFILLMENT_GROUP

_CLAIM = """
UPDATE fulfillment_orders SET state = 'working', worker = $3, updated_at = now(),
       lease_until = now() + make_interval(secs => $2)
WHERE order_id IN (
    SELECT order_id FROM fulfillment_orders
    WHERE state IN ('pending', 'working') AND offer IS NOT NULL AND paid_seq IS NOT NULL
      AND (void_seq IS NULL OR void_seq < paid_seq) AND next_attempt_at <= now()
      AND (state = 'pending' OR lease_until < now())
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING *"""
_PG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclass
class FulfillConfig:
    group: str = GROUP
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    batch: int = 512  # orders allocated and recorded together
    lanes: int = 2  # batches worked at once (PostgreSQL works one per connection)
    concurrency: int = 512  # carrier requests in flight, per batch
    lease_seconds: float = 30.0  # a claim older than this is taken over
    max_attempts: int = 8  # retriable failures before the dead letter
    retry_first: float = 0.2  # seconds; doubles per attempt, jittered
    retry_cap: float = 10.0
    max_records: int = 2000
    poll_ms: int = 200
    track_every: float = 2.0
    zone: str = "Asia/Shanghai"  # promised dates are calendar dates here
    backfill_after: float = 30.0  # seconds a paid order waits for order.reserved before the
    # snapshot is taken from the writer's orders row
    backoff: Backoff = field(default_factory=Backoff)  # Kafka / PostgreSQL outages
    seed: int | None = None


@dataclass
class FulfillStats:
    intake: int = 0
    booked: int = 0
    duplicates: int = 0
    retried: int = 0
    dead: int = 0
    tracked: int = 0
    published: int = 0
    parked: int = 0  # order events parked at intake (undecodable or rejected by PostgreSQL)


class Fulfiller(ConsumerLoop[FulfillStats]):
    """Works until :meth:`stop` (:meth:`ConsumerLoop.run`); orders in hand are finished and the
    outbox flushed first."""

    what = "fulfill"
    retry_on = (*RETRIABLE, *_PG_ERRORS)

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        carrier: Carrier,
        config: FulfillConfig | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.carrier = carrier
        self.config = config or FulfillConfig()
        super().__init__(self.config.backoff, log)
        self.topics = Topics(settings.topic_prefix)
        self.stats = FulfillStats()
        self._zone = ZoneInfo(self.config.zone)
        self._rng = random.Random(self.config.seed)  # noqa: S311 - jitter, not crypto
        self._retry = Backoff(
            self.config.max_attempts, self.config.retry_first, self.config.retry_cap
        )  # an order's retriable failures (jittered)
        self._member = Member(
            settings, [self.topics.orders], group=self.config.group, client_id=FULFILLMENT, log=log
        )
        self._producer: AIOKafkaProducer | None = None
        self._last_track = 0.0

    async def drain(self) -> None:
        """Flush what the last pass recorded (best effort: the next worker publishes the rest)."""
        with contextlib.suppress(KafkaError, *_PG_ERRORS):
            await self._publish()

    async def step(self) -> None:
        """One pass: intake, work, track (when due), publish."""
        consumer = await self._member.ready()
        busy = await self.work_once()
        batch = await consumer.getmany(
            timeout_ms=0 if busy else self.config.poll_ms, max_records=self.config.max_records
        )
        if batch:
            await self._intake(consumer, batch)
        if time.monotonic() - self._last_track >= self.config.track_every:
            self._last_track = time.monotonic()
            self.stats.tracked += await track_once(self.pool, self.carrier)
            await backfill(self.pool, self.config.backfill_after)
        await self._publish()

    # -- intake ------------------------------------------------------------------------------
    async def _intake(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        """One transaction for the batch; a permanently rejected event (or an undecodable one)
        is isolated by bisection and parked, the others are taken in, then the offsets are
        committed (:func:`flashsale.core.consumer.sink_batch`). Outages rewind the batch."""
        result = await sink_batch(
            consumer,
            self.pool,
            batch,
            process="fulfillment",
            parse=_parse,
            apply=intake,
            log=log,
        )
        self.stats.intake += result.applied
        self.stats.parked += result.parked

    # -- work --------------------------------------------------------------------------------
    async def work_once(self) -> int:
        """Claim up to ``lanes`` batches of ``batch`` orders and process the batches at once
        (each on its own connection); returns how many orders were claimed.

        A batch is allocated and checked in one transaction, booked with the carrier
        concurrently (at most ``concurrency`` requests in flight, each under its order's
        idempotency key) and recorded in one transaction; a failure is the failing order's
        only (retried later or dead-lettered), the rest of the batch ships."""
        cfg = self.config
        rows = await self.pool.fetch(_CLAIM, cfg.batch * cfg.lanes, cfg.lease_seconds, cfg.worker)
        if rows:
            works = [Work.from_row(r) for r in rows]
            size = -(-len(works) // cfg.lanes)
            await asyncio.gather(
                *(self._work(works[i : i + size]) for i in range(0, len(works), size))
            )
        return len(rows)

    async def _work(self, works: list[Work]) -> None:
        """One batch: allocate, book, record, then the failures."""
        cfg = self.config
        async with self.pool.acquire() as conn:
            allocation = await allocate(conn, works)
        failed: list[tuple[Work, FulfillmentError]] = []
        gate = asyncio.Semaphore(cfg.concurrency)

        async def book(work: Work) -> Booked | None:
            items = allocation.items[work.order_id]
            parcel = Parcel(order_id=work.order_id, items=items, address=_address(work))
            try:
                async with gate:
                    booking = await self.carrier.book(work.idempotency_key, parcel)
            except FulfillmentError as exc:
                failed.append((work, exc))
                return None
            return Booked(work, booking, items)

        for w in works:
            if (exc := allocation.failed.get(w.order_id)) is not None:
                failed.append((w, exc))
        got = await asyncio.gather(*(book(w) for w in works if w.order_id in allocation.items))
        booked = [b for b in got if b is not None]
        new = await record_bookings(self.pool, booked, self._zone)
        self.stats.booked += len(new)
        self.stats.duplicates += len(booked) - len(new)
        for b in booked:
            if b.work.order_id in new:
                log.debug(
                    "fulfill.booked order=%s carrier=%s tracking=%s",
                    b.work.order_id,
                    b.booking.carrier,
                    b.booking.tracking_no,
                )
        await self._failed(failed)

    async def _failed(self, failed: list[tuple[Work, FulfillmentError]]) -> None:
        """Reschedule the retriable failures (one statement), dead-letter the others."""
        retries: list[tuple[Work, FulfillmentError, float]] = []
        for work, exc in failed:
            if exc.retriable and work.attempts + 1 < self.config.max_attempts:
                delay = self._retry.jittered(work.attempts + 1, self._rng)
                retries.append((work, exc, delay))
                log.info(
                    "fulfill.retry order=%s code=%s attempt=%d in=%.2fs",
                    work.order_id,
                    exc.code,
                    work.attempts + 1,
                    delay,
                )
            else:
                if await dead_letter(self.pool, work, exc) is not None:
                    self.stats.dead += 1
                log.warning("fulfill.dead_letter order=%s code=%s", work.order_id, exc.code)
        await reschedule(self.pool, retries)
        self.stats.retried += len(retries)

    # -- Kafka -------------------------------------------------------------------------------
    async def _publish(self) -> None:
        producer = await self._producer_ready()
        while n := await _outbox.publish(self.pool, producer, self.topics):
            self.stats.published += n

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await started_producer(self.settings, client_id=FULFILLMENT)
        return self._producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        await self._member.close()
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError as exc:
                log.warning("fulfill producer stop failed: %s", type(exc).__name__)


def _address(work: Work) -> dict[str, Any]:
    return {"name": work.pii.get("real_name", ""), "address": work.pii.get("address", "")}


def _parse(topic: str, raw: bytes | None) -> OrderEvent:
    return OrderEvent.from_json(raw)  # type: ignore[arg-type]
