"""The Kafka → PostgreSQL writer: a member of the ``flashsale-writer`` consumer group.

It reads the orders topic and the shipments topic (fulfillment's shipment events move orders to
``shipped`` / ``delivered``; see :mod:`checkout._apply`).

Loop: ``getmany`` a batch → one PostgreSQL transaction (:func:`checkout._apply.apply_batch`) →
commit the batch's offsets. Offsets are committed only after the transaction commits, so a
crash at any point replays at most the last batch, which the idempotent writes absorb
(``order_events.event_id`` unique, orders upserted by seq). Several writers may run at once;
a rebalance between the PG commit and the offset commit just replays a batch.

Errors (translated at this boundary)::

    WriterError                      (code, retriable)
     ├── SinkUnavailable   retriable: connection lost, server shutting down, serialization/deadlock
     └── SinkRejected      not retriable: schema or data errors — the batch is logged and the
                           writer exits without committing its offsets

Undecodable messages are logged by partition/offset (never the payload) and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from checkout._apply import apply_batch, shipment_from_json
from checkout._kafka import WRITER_GROUP, make_consumer
from checkout._retry import Backoff, pause
from checkout.events import EventFormatError, OrderEvent
from flashsale.settings import Settings
from flashsale.topics import Topics

log = logging.getLogger("flashsale.writer")


class WriterError(Exception):
    code = "writer_error"
    retriable = False


class SinkUnavailable(WriterError):
    code = "sink_unavailable"
    retriable = True


class SinkRejected(WriterError):
    code = "sink_rejected"


_RETRIABLE_SQLSTATE_CLASSES = ("08", "40", "53", "57")  # connection, txn rollback, resources, op


def translate(exc: BaseException) -> WriterError:
    """Map an asyncpg / OS error to the writer's tree."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        cls = SinkUnavailable if state[:2] in _RETRIABLE_SQLSTATE_CLASSES else SinkRejected
        return cls(f"PostgreSQL {type(exc).__name__} (SQLSTATE {state})")
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncio.TimeoutError):
        return SinkUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}")
    return WriterError(type(exc).__name__)


@dataclass
class WriterConfig:
    group: str = WRITER_GROUP
    max_records: int = 5000
    poll_ms: int = 200
    backoff: Backoff = field(default_factory=Backoff)


@dataclass
class WriterStats:
    batches: int = 0
    messages: int = 0
    new_events: int = 0
    skipped: int = 0


class Writer:
    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, config: WriterConfig | None = None
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.config = config or WriterConfig()
        self.topic = Topics(settings.topic_prefix).orders
        self.shipments_topic = Topics(settings.topic_prefix).shipments
        self.stats = WriterStats()
        self.stop_event = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    def stop(self) -> None:
        self.stop_event.set()

    async def run(self) -> WriterStats:
        """Consume until :meth:`stop`; the batch in hand is written and committed first."""
        attempt = 0
        try:
            while not self.stop_event.is_set():
                try:
                    consumer = await self._consumer_ready()
                    batch = await consumer.getmany(
                        timeout_ms=self.config.poll_ms, max_records=self.config.max_records
                    )
                    if batch:
                        await self._write(consumer, batch)
                    attempt = 0
                except (KafkaError, OSError, SinkUnavailable) as exc:
                    if not isinstance(exc, SinkUnavailable):
                        await self._drop_consumer()  # a fresh consumer for the retry
                    attempt += 1
                    await pause(self.config.backoff, attempt, self.stop_event, log, "writer", exc)
        finally:
            await self._drop_consumer()
        return self.stats

    async def _consumer_ready(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = make_consumer(self.settings, self.topic, group=self.config.group)
            consumer.subscribe(topics=[self.topic, self.shipments_topic])
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def _drop_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except KafkaError as exc:
                log.warning("writer consumer stop failed: %s", type(exc).__name__)

    async def _write(self, consumer: AIOKafkaConsumer, batch: dict) -> None:  # type: ignore[type-arg]
        events: list[OrderEvent] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            parse = shipment_from_json if tp.topic == self.shipments_topic else OrderEvent.from_json
            for record in records:
                try:
                    events.append(parse(record.value))
                except EventFormatError:
                    self.stats.skipped += 1
                    log.error(
                        "writer.skipped partition=%d offset=%d reason=malformed",
                        tp.partition,
                        record.offset,
                    )
            offsets[tp] = records[-1].offset + 1
        if events:
            try:
                async with self.pool.acquire() as conn:
                    new = await apply_batch(conn, events)
            except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                error = translate(exc)
                if error.retriable:
                    # rewind so the batch is read again after the backoff
                    for tp, records in batch.items():
                        consumer.seek(tp, records[0].offset)
                raise error from exc
            self.stats.new_events += new
        try:
            await consumer.commit(offsets)  # type: ignore[arg-type]
        except CommitFailedError:
            # rebalanced away between the PG commit and here: another member replays the batch,
            # which the idempotent writes absorb
            log.warning(
                "writer.commit_failed partitions=%d (rebalance); batch will replay", len(offsets)
            )
        self.stats.batches += 1
        self.stats.messages += sum(len(r) for r in batch.values())
        log.debug("writer.batch messages=%d events=%d", len(events), self.stats.new_events)
