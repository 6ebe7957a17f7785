"""The Kafka → PostgreSQL writer: a member of the ``flashsale-writer`` consumer group.

It reads the orders topic and the shipments topic (fulfillment's shipment events move orders to
``shipped`` / ``delivered``; see :mod:`checkout.pipeline._apply`).

Loop: ``getmany`` a batch → one PostgreSQL transaction
(:func:`checkout.pipeline._apply.apply_batch`) →
commit the batch's offsets. Offsets are committed only after the transaction commits, so a
crash at any point replays at most the last batch, which the idempotent writes absorb
(``order_events.event_id`` unique, orders upserted by seq). Several writers may run at once;
a rebalance between the PG commit and the offset commit just replays a batch.

The loop, the batch handling and the errors are the shared consumer machinery
(:mod:`flashsale.core.consumer`, :mod:`flashsale.core.sink`); what is the writer's own is the
apply and the decoding per topic. Errors (translated at this boundary by
:func:`flashsale.core.sink.translate`)::

    WriterError (= core.sink.SinkError) (code, retriable, reason)
     ├── SinkUnavailable   retriable: connection lost, server shutting down, serialization/deadlock
     │                     (SQLSTATE classes 08/40/53/57, OS errors): the batch is read again
     │                     after a bounded backoff
     ├── SinkRejected      the event's fault: a data, integrity or size error (SQLSTATE class
     │                     22/23/54) or a value the driver cannot encode. The writer isolates
     │                     the rejected event(s) — it bisects the batch, each half in its own
     │                     transaction, down to single events — parks them
     │                     (:mod:`flashsale.core.parked`, ``sink_rejected:<SQLSTATE>``),
     │                     writes all the others, commits the offsets and goes on
     └── SinkFault         not the event's fault and not an outage (a missing table, a
                           privilege): the writer stops without committing, with the reason

Undecodable messages are parked too (reason ``malformed``), logged by partition/offset (never
the payload). A batch's parked records and offsets are idempotent on replay.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer

from checkout.events import OrderEvent
from checkout.pipeline._apply import apply_batch, copy_batch, shipment_from_json
from flashsale.core.consumer import Batch, ConsumerLoop, Member, sink_batch
from flashsale.core.kafka import WRITER, WRITER_GROUP
from flashsale.core.retry import Backoff
from flashsale.core.settings import Settings
from flashsale.core.sink import SinkError as WriterError
from flashsale.core.sink import SinkRejected, SinkUnavailable, translate
from flashsale.core.topics import Topics

log = logging.getLogger("flashsale.writer")
__all__ = [
    "SinkRejected",
    "SinkUnavailable",
    "Writer",
    "WriterConfig",
    "WriterError",
    "copy_batch",
    "translate",
]


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
    first_batch_at: float = 0.0  # time.perf_counter() when the first messages were fetched


class Writer(ConsumerLoop[WriterStats]):
    """Consumes until :meth:`stop` (:meth:`ConsumerLoop.run`); the batch in hand is written and
    committed first."""

    what = "writer"

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, config: WriterConfig | None = None
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.config = config or WriterConfig()
        super().__init__(self.config.backoff, log)
        self.topic = Topics(settings.topic_prefix).orders
        self.shipments_topic = Topics(settings.topic_prefix).shipments
        self.stats = WriterStats()
        self._member = Member(
            settings,
            [self.topic, self.shipments_topic],
            group=self.config.group,
            client_id=WRITER,
            log=log,
        )

    async def close(self) -> None:
        await self._member.close()

    async def step(self) -> None:
        """One batch: fetch, write (parking what cannot be written), commit."""
        consumer = await self._member.ready()
        batch = await consumer.getmany(
            timeout_ms=self.config.poll_ms, max_records=self.config.max_records
        )
        if batch:
            if not self.stats.first_batch_at:
                self.stats.first_batch_at = time.perf_counter()
            await self._write(consumer, batch)

    def _parse(self, topic: str, raw: bytes | None) -> OrderEvent:
        return (shipment_from_json if topic == self.shipments_topic else OrderEvent.from_json)(
            raw  # type: ignore[arg-type]
        )

    async def _write(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        """Write one fetched batch, park what cannot be written, commit the offsets."""
        result = await sink_batch(
            consumer,
            self.pool,
            batch,
            process="writer",
            parse=self._parse,
            apply=apply_batch,
            log=log,
        )
        self.stats.new_events += result.applied
        self.stats.skipped += result.malformed
        self.stats.parked += result.parked
        self.stats.batches += 1
        self.stats.messages += result.messages
        log.debug("writer.batch messages=%d events=%d", result.messages, self.stats.new_events)
