"""The outbox relay: each armed round's Redis outbox stream → Kafka (key = order id).

Per round it reads the stream ``RoundKeys(round).outbox`` through the consumer group
``relay`` (created with MKSTREAM, idempotently), publishes every event with an idempotent
producer (acks=all) and, only once Kafka acknowledged every message of the batch, in one MULTI:
XACKs and XDELs the entries and records reservations in the relay ledger
(:mod:`checkout.pipeline.ledger`).

Pipelined: while a batch's messages are in flight to Kafka, the next batch of the round is
read, decoded and sent (up to ``pipeline`` batches per round and pass); then the first batch's
acknowledgements are awaited and only that batch is acked in Redis, and so on. The sends go
out in stream order on one producer, which keeps each partition's messages in send order, so
a key's events reach Kafka in stream order. The relay computes each key's partition itself,
exactly as Kafka's default partitioner does (:mod:`checkout.pipeline.partition`, faster).
When a batch fails, it and the batches behind it are sent again in stream order with a fresh
producer (a later event of a key may then already be in Kafka before the retried earlier one:
every sink orders by ``seq``, not by arrival).
Pending entries of a previous life and claimed ones are read only with nothing in flight, and
such a batch is not pipelined, so they go out before anything newer.

Crash safety: entries read but not acknowledged stay in the group's pending list. Consumer names
are stable across restarts (default ``relay-<hostname>``, ``--index N`` for several relays on one
host), so a restarted relay first re-reads its own pending entries at once; every
``claim_every`` seconds it XAUTOCLAIMs entries idle longer than ``min_idle_ms`` from dead
consumers, and removes (XGROUP DELCONSUMER) consumers of the group with no pending entries idle
longer than ``stale_consumer_ms``. Re-publishing after a crash can duplicate messages in Kafka;
the writers are idempotent on ``event_id``.

Never fatal, never retried forever (issue 12):

- a malformed entry, an event over the producer's message size limit (``oversize``,
  :data:`flashsale.core.kafka.MAX_MESSAGE_BYTES`) or one Kafka refuses for good (a non-retriable
  ``KafkaError`` for that message, ``kafka_rejected:<error>``) is parked — written to the round's
  dead stream ``fs:{r:<round>}:outbox:dead`` (fields, ``_entry_id``, ``_reason``) in the same
  MULTI that acknowledges it — and the rest of the batch is published. When the relay has a
  PostgreSQL pool it then moves dead-stream entries into the one parked-events table
  (:mod:`flashsale.core.parked`, idempotent per entry) so ``flashsale parked list|retry`` sees
  them;
  without one (or while PostgreSQL is down) they wait in Redis, where reconcile counts them.
- a round whose keys fail (e.g. its outbox key holds the wrong type: WRONGTYPE) is skipped for
  that pass and recorded (log, metric, parked record at most once per round per
  ``round_error_every``); the other rounds go on.

Only outages (Redis connection lost, Kafka unreachable) are retried, with bounded backoff.
Logs carry ids and counts, never payloads.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from checkout.events import EventFormatError, OrderEvent
from checkout.pipeline.ledger import dead_letter_key, ledger_key
from checkout.pipeline.partition import partition
from flashsale.core.kafka import MAX_MESSAGE_BYTES, RELAY, started_producer
from flashsale.core.parked import ParkedEvent, RoundErrors, park
from flashsale.core.redis import OUTAGES, is_outage
from flashsale.core.retry import Backoff, pause, sleep_unless_stopped
from flashsale.core.settings import Settings
from flashsale.core.sink import SINK_ERRORS
from flashsale.core.topics import Topics
from inventory.keys import ARMED_BUCKETS, ARMED_ROUNDS, RoundKeys, split_space

log = logging.getLogger("flashsale.relay")
GROUP = "relay"
PG_TIMEOUT = 5.0  # seconds a parked-entry move may take before PostgreSQL counts as down
PG_RETRY = 30.0  # then wait this long before trying again (the relay never stalls on it)
Entry = tuple[bytes, dict[bytes, bytes] | None]
Rejected = tuple[int, str]  # the index of an event Kafka will never take, and the reason code


def default_consumer(index: int | None = None) -> str:
    """``relay-<hostname>`` (``-<index>`` for several relays on one host): the same name after
    a restart, so the relay resumes its own pending entries at once."""
    name = f"relay-{socket.gethostname()}"
    return name if index is None else f"{name}-{index}"


class Stopped(Exception):
    """Stop was requested while a batch waited for Kafka; the batch stays pending."""


@dataclass
class _Flight:
    """A batch sent to Kafka whose acknowledgements are not awaited yet."""

    entries: Sequence[Entry]
    events: list[OrderEvent]
    payloads: list[bytes]  # each event's Kafka message value
    entry_ids: list[bytes]  # of each event
    parked: list[tuple[bytes, dict[bytes, bytes], str]]
    gone: list[bytes]  # pending ids whose entry was already deleted
    sent: list[tuple[int, Any]]  # (event index, delivery future)
    rejected: list[Rejected]
    error: BaseException | None = None  # handing it to the producer failed: send it again


@dataclass
class RelayStats:
    published: int = 0
    parked: int = 0
    batches: int = 0
    claimed: int = 0
    moved: int = 0  # dead-stream entries moved into PostgreSQL's parked_events
    round_errors: int = 0
    removed_consumers: int = 0


@dataclass
class RelayConfig:
    consumer: str = field(default_factory=default_consumer)
    batch: int = 1000
    pipeline: int = 16  # batches of one round read and sent per pass, the next while the
    # previous one's acknowledgements are awaited
    idle_sleep: float = 0.05
    min_idle_ms: int = 30_000
    claim_every: float = 5.0
    stale_consumer_ms: int = 3_600_000  # remove other consumers idle this long with nothing pending
    max_message_bytes: int = MAX_MESSAGE_BYTES
    round_error_every: float = 60.0  # record a failing round at most this often
    dead_batch: int = 100  # dead-stream entries moved to PostgreSQL per round and pass
    round_prefix: str = ""  # relay only armed rounds whose id starts with this (tests, sharding)
    backoff: Backoff = field(default_factory=Backoff)


class Relay:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        config: RelayConfig | None = None,
        pool: asyncpg.Pool | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.config = config or RelayConfig()
        self.pool = pool  # parked entries go to PostgreSQL when given
        self._round_errors = RoundErrors("relay", pool, self.config.round_error_every)
        self.topic = Topics(settings.topic_prefix).orders
        self.stats = RelayStats()
        self.stop_event = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._groups: set[str] = set()
        self._recovering: set[str] = set()
        self._last_claim = 0.0
        self._pg_retry_at = 0.0  # PostgreSQL failed: move parked entries again after this

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> RelayStats:
        """Relay until :meth:`stop`; the batch in hand is finished, flushed and acked first."""
        failures = 0
        try:
            while not self.stop_event.is_set():
                try:
                    moved = await self.step()
                except Stopped:
                    break
                except OUTAGES as exc:
                    # Redis restarting (or loading its AOF): retry with bounded backoff. Entries
                    # published but not yet acked stay pending and are re-read from our own
                    # pending list (duplicates downstream are no-ops).
                    failures += 1
                    self._recovering |= self._groups
                    await pause(
                        self.config.backoff, failures, self.stop_event, log, "relay (Redis)", exc
                    )
                    continue
                failures = 0
                if moved == 0:
                    await self._sleep(self.config.idle_sleep)
        finally:
            await self.aclose()
        return self.stats

    def stop(self) -> None:
        self.stop_event.set()

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError as exc:  # flushing to a dead broker: entries stay pending
                log.warning("relay producer stop failed: %s", type(exc).__name__)

    async def _sleep(self, seconds: float) -> None:
        await sleep_unless_stopped(self.stop_event, seconds)

    # -- one pass ----------------------------------------------------------------------------
    async def step(self) -> int:
        """One pass over every armed round (and bucket of a bucketed round: each has its own
        outbox); returns the number of entries moved."""
        members: set[Any] = await self.redis.smembers(ARMED_ROUNDS)  # type: ignore[misc]
        members |= await self.redis.smembers(ARMED_BUCKETS)  # type: ignore[misc]
        rounds = sorted(
            r for r in (m.decode() for m in members) if r.startswith(self.config.round_prefix)
        )
        self._groups.intersection_update(rounds)  # archived rounds are forgotten (no growth)
        self._recovering.intersection_update(rounds)
        claim = time.monotonic() - self._last_claim >= self.config.claim_every
        if claim:
            self._last_claim = time.monotonic()
        moved = 0
        for round_id in rounds:
            if self.stop_event.is_set():
                break
            try:
                moved += await self._round(round_id, claim)
                if claim:
                    await self._tidy(round_id)
            except ResponseError as exc:  # this round's problem, not the relay's...
                if is_outage(exc):  # ...unless its node is down (a cluster master restarting)
                    raise
                await self._round_failed(round_id, exc)
        return moved

    async def _round_failed(self, round_id: str, exc: ResponseError) -> None:
        self._groups.discard(round_id)  # e.g. NOGROUP: the stream was recreated; make it again
        self._recovering.discard(round_id)
        word = str(exc).split(" ", 1)[0]
        if word == "NOGROUP":  # the stream was deleted (an archived round): nothing to record
            log.info("relay.nogroup round=%s", round_id)
            return
        reason = f"round_error:{word}" if word.isalpha() and word.isupper() else "round_error"
        if await self._round_errors.record(round_id, reason, exc):
            self.stats.round_errors += 1

    async def _round(self, round_id: str, claim: bool) -> int:
        key = RoundKeys(round_id).outbox
        if round_id not in self._groups:
            try:
                await self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._groups.add(round_id)
            self._recovering.add(round_id)
        entries: list[Entry] = []
        if round_id in self._recovering:  # our own pending entries from a previous life
            entries = await self._read(key, "0")
            if not entries:
                self._recovering.discard(round_id)
        if not entries and claim:
            _cursor, claimed, *_ = await self.redis.xautoclaim(
                key,
                GROUP,
                self.config.consumer,
                self.config.min_idle_ms,
                "0-0",
                count=self.config.batch,
            )
            entries = list(claimed)
            if entries:
                self.stats.claimed += len(entries)
                log.info("relay.claimed round=%s entries=%d", round_id, len(entries))
        if entries:  # older than anything new: alone, before the next read
            await self._settle(round_id, await self._send(entries))
            return len(entries)
        return await self._stream(round_id, key)

    async def _stream(self, round_id: str, key: str) -> int:
        """New entries, pipelined: the next batch is read and sent while the previous one's
        acknowledgements are awaited; each batch is acked in Redis once Kafka has all of it."""
        moved = 0
        flight: _Flight | None = None
        try:
            for _ in range(max(1, self.config.pipeline)):
                entries = await self._read(key, ">")
                if not entries:
                    break
                moved += len(entries)
                ahead = await self._send(entries)
                if flight is not None:
                    await self._settle(round_id, flight)
                flight = ahead
                if len(entries) < self.config.batch or self.stop_event.is_set():
                    break
            if flight is not None:
                await self._settle(round_id, flight)
                flight = None
        finally:
            if flight is not None:  # abandoned (an outage): its entries stay pending
                _forget(flight)
        return moved

    async def _read(self, key: str, start: str) -> list[Entry]:
        resp: Any = await self.redis.xreadgroup(
            GROUP, self.config.consumer, {key: start}, count=self.config.batch
        )
        return [(eid, fields) for _stream, items in resp or [] for eid, fields in items]

    async def _send(self, entries: Sequence[Entry]) -> _Flight:
        """Decode the batch and hand its events to the producer (not awaited)."""
        flight = _Flight(entries, [], [], [], [], [], [], [])
        for entry_id, fields in entries:
            if not fields:
                flight.gone.append(entry_id)
                continue
            try:
                event = OrderEvent.from_fields(fields)
            except EventFormatError:
                flight.parked.append((entry_id, fields, "malformed"))
                continue
            flight.events.append(event)
            flight.payloads.append(event.to_json())
            flight.entry_ids.append(entry_id)
        if flight.events:
            await self._produce(flight)
        return flight

    async def _settle(self, round_id: str, flight: _Flight) -> None:
        """Await the batch's acknowledgements (retrying it if need be), then in one MULTI
        park what Kafka refused and XACK + XDEL the batch."""
        parked = flight.parked
        refused: set[int] = set()
        if flight.events:
            for index, reason in await self._acked(flight):
                refused.add(index)
                entry_id = flight.entry_ids[index]
                parked.append((entry_id, dict(flight.entries).get(entry_id) or {}, reason))
        for entry_id, _fields, reason in parked:
            log.error(
                "relay.parked round=%s entry=%s reason=%s", round_id, entry_id.decode(), reason
            )
        ids = [eid for eid, fields in flight.entries if fields] + flight.gone
        key = RoundKeys(round_id).outbox
        published = 0
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, fields, reason in parked:
                parked_fields: dict[Any, Any] = {
                    **fields,
                    b"_entry_id": entry_id,
                    b"_reason": reason.encode(),
                }
                pipe.xadd(dead_letter_key(round_id), parked_fields)
            reserved: dict[str, bytes] = {}
            for i, e in enumerate(flight.events):
                if i not in refused:
                    published += 1
                    if e.type == "order.reserved":
                        reserved[e.order_id] = flight.payloads[i]
            if reserved:
                pipe.hset(ledger_key(round_id), mapping=reserved)  # type: ignore[arg-type]
            pipe.xack(key, GROUP, *ids)
            pipe.xdel(key, *ids)
            await pipe.execute()
        self.stats.published += published
        self.stats.parked += len(parked)
        self.stats.batches += 1
        log.debug("relay.batch round=%s published=%d parked=%d", round_id, published, len(parked))

    # -- parked entries and stale consumers (every claim pass) ---------------------------------
    async def _tidy(self, round_id: str) -> None:
        await self._prune_consumers(round_id)
        if self.pool is not None:
            await self._move_dead(round_id)

    async def _prune_consumers(self, round_id: str) -> None:
        """XGROUP DELCONSUMER for other consumers with nothing pending, idle for long (a
        consumer's pending entries are claimed by XAUTOCLAIM first, so none is lost)."""
        key = RoundKeys(round_id).outbox
        consumers: list[dict[str, Any]] = await self.redis.xinfo_consumers(key, GROUP)
        for c in consumers:
            name = c["name"].decode() if isinstance(c["name"], bytes) else str(c["name"])
            if (
                name != self.config.consumer
                and int(c["pending"]) == 0
                and int(c["idle"]) > self.config.stale_consumer_ms
            ):
                await self.redis.xgroup_delconsumer(key, GROUP, name)
                self.stats.removed_consumers += 1
                log.info("relay.removed_consumer round=%s consumer=%s", round_id, name)

    async def _move_dead(self, round_id: str) -> None:
        """Dead-stream entries → ``parked_events`` (idempotent per entry), then XDEL them."""
        assert self.pool is not None
        if time.monotonic() < self._pg_retry_at:
            return
        dead = dead_letter_key(round_id)
        found: Any = await self.redis.xrange(dead, count=self.config.dead_batch)
        if not found:
            return
        items = [_parked_entry(round_id, fields) for _dead_id, fields in found]
        try:
            await asyncio.wait_for(park(self.pool, items), PG_TIMEOUT)
        except SINK_ERRORS as exc:  # PostgreSQL down: they wait in Redis (reconcile counts them)
            self._pg_retry_at = time.monotonic() + PG_RETRY
            log.warning("relay.dead_not_moved round=%s (%s)", round_id, type(exc).__name__)
            return
        await self.redis.xdel(dead, *(dead_id for dead_id, _fields in found))
        self.stats.moved += len(found)

    # -- Kafka -------------------------------------------------------------------------------
    async def _produce(self, flight: _Flight) -> None:
        """Hand every event of the batch to the producer (the delivery futures, and the events
        over the size limit, go in the flight); an outage is kept for :meth:`_acked`."""
        flight.sent, flight.rejected, flight.error = [], [], None
        try:
            producer = await self._producer_ready()
            partitions = sorted(await producer.partitions_for(self.topic))
            for i, (e, value) in enumerate(zip(flight.events, flight.payloads, strict=True)):
                key = e.order_id.encode()
                try:
                    future = await producer.send(
                        self.topic, value, key=key, partition=partition(key, partitions)
                    )
                except MessageSizeTooLargeError:
                    flight.rejected.append((i, "oversize"))
                    continue
                flight.sent.append((i, future))
        except (KafkaError, OSError) as exc:
            flight.error = exc

    async def _acked(self, flight: _Flight) -> list[Rejected]:
        """Wait until Kafka acknowledged every message of the batch, sending it again (with a
        fresh producer, bounded retries) after a retriable failure; returns the events Kafka
        will never take (over the size limit, or a non-retriable error for that message),
        which the caller parks."""
        attempt = 0
        while True:
            try:
                if attempt:
                    await self._produce(flight)
                if flight.error is not None:
                    raise flight.error
                rejected = list(flight.rejected)
                results = await asyncio.gather(
                    *(f for _i, f in flight.sent), return_exceptions=True
                )
                retry: BaseException | None = None
                for (i, _f), result in zip(flight.sent, results, strict=True):
                    if isinstance(result, KafkaError) and not result.retriable:
                        rejected.append((i, f"kafka_rejected:{type(result).__name__}"))
                    elif isinstance(result, BaseException):
                        retry = result
                if retry is not None:
                    raise retry
                return rejected
            except (KafkaError, OSError) as exc:
                await self.aclose()  # a fresh idempotent producer for the retry
                attempt += 1
                await pause(
                    self.config.backoff, attempt, self.stop_event, log, "relay publish", exc
                )
                if self.stop_event.is_set():
                    raise Stopped from exc

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await started_producer(
                self.settings, client_id=RELAY, max_message_bytes=self.config.max_message_bytes
            )
        return self._producer


def _forget(flight: _Flight) -> None:
    """An abandoned batch's deliveries may still fail: retrieve their outcome when it comes."""
    for _i, future in flight.sent:
        future.add_done_callback(lambda f: f.cancelled() or f.exception())


def _parked_entry(round_id: str, fields: dict[bytes, bytes]) -> ParkedEvent:
    """A dead-stream entry as a parked record; the payload is the event's Kafka message when
    the fields still parse (an oversize event), else the fields as JSON."""
    meta = {k: fields.get(k, b"").decode("utf-8", "replace") for k in (b"_entry_id", b"_reason")}
    original = {k: v for k, v in fields.items() if k not in (b"_entry_id", b"_reason")}
    event: OrderEvent | None
    try:
        event = OrderEvent.from_fields(original)
        payload = event.to_json()
    except (EventFormatError, UnicodeDecodeError):
        event = None
        payload = orjson.dumps(
            {
                k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                for k, v in original.items()
            }
        )
    reason = meta[b"_reason"] or "malformed"
    real, bucket = split_space(round_id)  # a bucket's entry is parked under its round
    where = "" if bucket is None else f" (bucket {bucket})"
    parked = ParkedEvent.from_entry(
        real,
        meta[b"_entry_id"],
        payload,
        reason,
        f"outbox entry parked by the relay: {reason}{where}",
        event,
    )
    # each bucket's stream numbers its own entries: the dedupe key names the bucket's stream
    return parked if bucket is None else replace(parked, dedupe_key=f"{parked.dedupe_key}~{bucket}")
