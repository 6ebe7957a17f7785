"""The Kafka → PostgreSQL writer: a member of the ``flashsale-writer`` consumer group.

It reads the orders topic and the shipments topic (fulfillment's shipment events move orders to
``shipped`` / ``delivered``; see :mod:`checkout.pipeline._apply`).

Loop: ``getmany`` a batch → one PostgreSQL transaction
(:func:`checkout.pipeline._apply.apply_batch`) →
commit the batch's offsets. Offsets are committed only after the transaction commits, so a
crash at any point replays at most the last batch, which the idempotent writes absorb
(``order_events.event_id`` unique, orders upserted by seq). Several writers may run at once;
a rebalance between the PG commit and the offset commit just replays a batch.

Errors (translated at this boundary by :func:`checkout.pipeline.parking.translate`)::

    WriterError (= parking.SinkError) (code, retriable, reason)
     ├── SinkUnavailable   retriable: connection lost, server shutting down, serialization/deadlock
     │                     (SQLSTATE classes 08/40/53/57, OS errors): the batch is read again
     │                     after a bounded backoff
     ├── SinkRejected      the event's fault: a data, integrity or size error (SQLSTATE class
     │                     22/23/54) or a value the driver cannot encode. The writer isolates
     │                     the rejected event(s) — it bisects the batch, each half in its own
     │                     transaction, down to single events — parks them
     │                     (:mod:`checkout.pipeline.parking`, ``sink_rejected:<SQLSTATE>``),
     │                     writes all the others, commits the offsets and goes on
     └── SinkFault         not the event's fault and not an outage (a missing table, a
                           privilege): the writer stops without committing, with the reason

Undecodable messages are parked too (reason ``malformed``), logged by partition/offset (never
the payload). A batch's parked records and offsets are idempotent on replay.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from checkout.events import EventFormatError, OrderEvent
from checkout.pipeline._apply import apply_batch, shipment_from_json
from checkout.pipeline.parking import (
    SINK_ERRORS,
    Delivered,
    ParkedEvent,
    SinkRejected,
    SinkUnavailable,
    apply_isolating,
    park,
    translate,
)
from checkout.pipeline.parking import SinkError as WriterError
from flashsale.core.kafka import WRITER_GROUP, make_consumer
from flashsale.core.retry import Backoff, pause
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics

log = logging.getLogger("flashsale.writer")
__all__ = ["SinkRejected", "SinkUnavailable", "Writer", "WriterConfig", "WriterError", "translate"]


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
    skipped: int = 0  # undecodable messages (parked as malformed)
    parked: int = 0  # every message parked (malformed or rejected by PostgreSQL)


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
        items: list[Delivered] = []
        parked: list[ParkedEvent] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            parse = shipment_from_json if tp.topic == self.shipments_topic else OrderEvent.from_json
            for record in records:
                try:
                    items.append(Delivered(tp, record.offset, record.value, parse(record.value)))
                except (EventFormatError, TypeError, ValueError) as exc:
                    self.stats.skipped += 1
                    parked.append(
                        ParkedEvent.from_kafka(
                            "writer",
                            tp.topic,
                            tp.partition,
                            record.offset,
                            record.value,
                            "malformed",
                            f"undecodable order event: {type(exc).__name__}",
                        )
                    )
            offsets[tp] = records[-1].offset + 1
        try:
            if items:
                new, rejected = await apply_isolating(self.pool, apply_batch, items)
                self.stats.new_events += new
                parked += [
                    ParkedEvent.from_kafka(
                        "writer",
                        i.tp.topic,
                        i.tp.partition,
                        i.offset,
                        i.raw,
                        error.reason,
                        str(error),
                        i.event,
                    )
                    for i, error in rejected
                ]
            if parked:
                await park(self.pool, parked)
                self.stats.parked += len(parked)
        except (SinkUnavailable, *SINK_ERRORS) as exc:
            # an outage: rewind so the batch is read again after the backoff (what was written
            # or parked already is absorbed by the idempotent writes)
            for tp, records in batch.items():
                consumer.seek(tp, records[0].offset)
            raise (exc if isinstance(exc, WriterError) else translate(exc)) from exc
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
        log.debug("writer.batch messages=%d events=%d", len(items), self.stats.new_events)
