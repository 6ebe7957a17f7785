"""The one consumer loop: consume → work → commit, with bounded backoff and a stop.

The writer (``checkout.pipeline.writer``) and fulfillment intake (``fulfillment.worker``) are
both members of a Kafka consumer group that write a batch to PostgreSQL and commit the batch's
offsets only after the PostgreSQL transaction commits. What they share lives here:

- :class:`Member` — the group member, created lazily, stopped idempotently (a fresh one after
  a Kafka or OS error);
- :func:`sink_batch` — one fetched batch: decode each record (an undecodable one is parked as
  ``malformed``), apply the rest with :func:`flashsale.core.sink.apply_isolating` (an event the
  sink rejects is parked with its reason), park, then commit the offsets. On an outage the batch
  is rewound (read again after the backoff) and the error raised, translated
  (:class:`~flashsale.core.sink.SinkUnavailable`, or :class:`~flashsale.core.sink.SinkFault`,
  which stops the process without committing);
- :func:`run_loop` — call a step until stopped; outages (``retry_on``) back off with
  :func:`flashsale.core.retry.pause` and, after ``backoff.attempts`` in a row, propagate;
- :class:`ConsumerLoop` — the loop's owner: a stop event, :meth:`~ConsumerLoop.stop`, and
  :meth:`~ConsumerLoop.run` (the loop over the subclass's ``step``, then ``drain``, and
  ``close`` always), returning the subclass's stats.

Logs carry partitions, offsets and class names, never payloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from flashsale.core.kafka import make_consumer
from flashsale.core.parked import Identified, ParkedEvent, park
from flashsale.core.retry import Backoff, pause
from flashsale.core.settings import Settings
from flashsale.core.sink import (
    SINK_ERRORS,
    Apply,
    Delivered,
    SinkUnavailable,
    apply_isolating,
    translate,
)

E = TypeVar("E", bound=Identified)
S = TypeVar("S")
#: Decodes one record of a topic; raises TypeError / ValueError (or a subclass) when it cannot.
Parse = Callable[[str, bytes | None], E]
Batch = Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]]
#: Exceptions a decoder raises for a record it cannot read.
DECODE_ERRORS: tuple[type[Exception], ...] = (TypeError, ValueError)


class Member:
    """A consumer-group member on ``topics``, started on first use; :meth:`close` is idempotent."""

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        *,
        group: str,
        client_id: str,
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.group = group
        self.client_id = client_id
        self.log = log
        self._consumer: AIOKafkaConsumer | None = None

    async def ready(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = make_consumer(
                self.settings, *self.topics, group=self.group, client_id=self.client_id
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except KafkaError as exc:
                self.log.warning("%s consumer stop failed: %s", self.client_id, type(exc).__name__)


@dataclass(frozen=True)
class BatchResult:
    messages: int  # records in the batch
    applied: int  # what the sink's apply returned, summed
    malformed: int  # records that did not decode (parked)
    parked: int  # records parked (malformed or rejected by the sink)


async def sink_batch(
    consumer: AIOKafkaConsumer,
    pool: asyncpg.Pool,
    batch: Batch,
    *,
    process: str,
    parse: Parse[E],
    apply: Apply[E],
    log: logging.Logger,
) -> BatchResult:
    """Decode, apply (isolating rejections), park, commit — see the module docstring."""
    items: list[Delivered[E]] = []
    parked: list[ParkedEvent] = []
    offsets: dict[TopicPartition, int] = {}
    for tp, records in batch.items():
        for record in records:
            try:
                event = parse(tp.topic, record.value)
            except DECODE_ERRORS as exc:
                parked.append(
                    ParkedEvent.from_kafka(
                        process,
                        tp.topic,
                        tp.partition,
                        record.offset,
                        record.value,
                        "malformed",
                        f"undecodable order event: {type(exc).__name__}",
                    )
                )
                continue
            items.append(Delivered(tp, record.offset, record.value, event))
        if records:
            offsets[tp] = records[-1].offset + 1
    malformed = len(parked)
    try:
        applied, rejected = await apply_isolating(pool, apply, items)
        parked += [
            ParkedEvent.from_kafka(
                process,
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
        await park(pool, parked)
    except (SinkUnavailable, *SINK_ERRORS) as exc:
        # an outage: rewind so the batch is read again after the backoff (what was written or
        # parked already is absorbed by the idempotent writes)
        for tp, records in batch.items():
            if records:
                consumer.seek(tp, records[0].offset)
        raise translate(exc) from exc
    try:
        await consumer.commit(offsets)  # type: ignore[arg-type]
    except CommitFailedError:
        # rebalanced away between the PG commit and here: another member replays the batch,
        # which the idempotent writes absorb
        log.warning(
            "%s.commit_failed partitions=%d (rebalance); batch will replay", process, len(offsets)
        )
    messages = sum(len(r) for r in batch.values())
    return BatchResult(messages, applied, malformed, len(parked))


#: What a consumer loop retries by default: Kafka, the network, PostgreSQL unavailable.
RETRIABLE: tuple[type[BaseException], ...] = (KafkaError, OSError, SinkUnavailable)


async def run_loop(
    step: Callable[[], Awaitable[object]],
    *,
    stop: asyncio.Event,
    backoff: Backoff,
    log: logging.Logger,
    what: str,
    reset: Callable[[], Awaitable[None]],
    retry_on: tuple[type[BaseException], ...] = RETRIABLE,
) -> None:
    """Call ``step`` until ``stop`` is set. An error in ``retry_on`` backs off (bounded: after
    ``backoff.attempts`` in a row it propagates); a Kafka or OS error first calls ``reset`` so
    the next attempt uses fresh clients. Any other error propagates at once."""
    attempt = 0
    while not stop.is_set():
        try:
            await step()
            attempt = 0
        except retry_on as exc:
            if isinstance(exc, KafkaError | OSError):
                await reset()
            attempt += 1
            await pause(backoff, attempt, stop, log, what, exc)


class ConsumerLoop(Generic[S]):
    """The owner of a consumer loop (the writer, the fulfiller). A subclass passes its outage
    ``backoff`` and ``log``, sets ``stats`` and writes :meth:`step` (one pass) and :meth:`close`
    (its clients, idempotent; also the reset after a Kafka or OS error); :meth:`run` does the
    rest."""

    #: The name the loop's backoff logs use.
    what: ClassVar[str]
    #: What the loop retries (bounded) instead of propagating.
    retry_on: ClassVar[tuple[type[BaseException], ...]] = RETRIABLE
    stats: S

    def __init__(self, backoff: Backoff, log: logging.Logger) -> None:
        self.backoff = backoff
        self.log = log
        self.stop_event = asyncio.Event()

    def stop(self) -> None:
        self.stop_event.set()

    async def step(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        """What to finish once stopped, before :meth:`close` (nothing by default)."""

    async def run(self) -> S:
        """Call :meth:`step` until :meth:`stop` (:func:`run_loop`), :meth:`drain`; :meth:`close`
        whatever happens. Returns the stats."""
        try:
            await run_loop(
                self.step,
                stop=self.stop_event,
                backoff=self.backoff,
                log=self.log,
                what=self.what,
                reset=self.close,
                retry_on=self.retry_on,
            )
            await self.drain()
        finally:
            await self.close()
        return self.stats
