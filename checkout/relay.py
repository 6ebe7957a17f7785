"""The outbox relay: each armed round's Redis outbox stream → Kafka (key = order id).

Per round it reads the stream ``RoundKeys(round).outbox`` through the consumer group
``relay`` (created with MKSTREAM, idempotently), publishes every event with an idempotent
producer (acks=all) and, only once Kafka acknowledged every message of the batch, in one MULTI:
XACKs and XDELs the entries and records reservations in the relay ledger (:mod:`checkout._ledger`).

Crash safety: entries read but not acknowledged stay in the group's pending list. On start a
relay first re-reads its own pending entries (stable ``--consumer`` names make that immediate),
and every ``claim_every`` seconds it XAUTOCLAIMs entries idle longer than ``min_idle_ms`` from
dead consumers. Re-publishing after a crash can duplicate messages in Kafka; the writers are
idempotent on ``event_id``.

Malformed entries are parked in ``fs:{r:<round>}:outbox:dead`` (with the reason) and
acknowledged, so one bad entry never blocks a round. Logs carry ids and counts, never payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from checkout._kafka import started_producer
from checkout._ledger import dead_letter_key, ledger_key
from checkout._retry import Backoff, pause
from checkout.events import EventFormatError, OrderEvent
from flashsale.settings import Settings
from flashsale.topics import Topics
from inventory.keys import ARMED_ROUNDS, RoundKeys

log = logging.getLogger("flashsale.relay")
GROUP = "relay"
Entry = tuple[bytes, dict[bytes, bytes] | None]


class Stopped(Exception):
    """Stop was requested while a batch waited for Kafka; the batch stays pending."""


@dataclass
class RelayStats:
    published: int = 0
    parked: int = 0
    batches: int = 0
    claimed: int = 0


@dataclass
class RelayConfig:
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    batch: int = 1000
    idle_sleep: float = 0.05
    min_idle_ms: int = 30_000
    claim_every: float = 5.0
    round_prefix: str = ""  # relay only armed rounds whose id starts with this (tests, sharding)
    backoff: Backoff = field(default_factory=Backoff)


class Relay:
    def __init__(self, settings: Settings, redis: Redis, config: RelayConfig | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.config = config or RelayConfig()
        self.topic = Topics(settings.topic_prefix).orders
        self.stats = RelayStats()
        self.stop_event = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._groups: set[str] = set()
        self._recovering: set[str] = set()
        self._last_claim = 0.0

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
                except (RedisConnectionError, RedisTimeoutError) as exc:
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)

    # -- one pass ----------------------------------------------------------------------------
    async def step(self) -> int:
        """One pass over every armed round; returns the number of entries moved."""
        members: set[Any] = await self.redis.smembers(ARMED_ROUNDS)  # type: ignore[misc]
        rounds = sorted(
            r for r in (m.decode() for m in members) if r.startswith(self.config.round_prefix)
        )
        claim = time.monotonic() - self._last_claim >= self.config.claim_every
        if claim:
            self._last_claim = time.monotonic()
        moved = 0
        for round_id in rounds:
            if self.stop_event.is_set():
                break
            moved += await self._round(round_id, claim)
        return moved

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
        if not entries:
            entries = await self._read(key, ">")
        if entries:
            await self._handle(round_id, entries)
        return len(entries)

    async def _read(self, key: str, start: str) -> list[Entry]:
        resp: Any = await self.redis.xreadgroup(
            GROUP, self.config.consumer, {key: start}, count=self.config.batch
        )
        return [(eid, fields) for _stream, items in resp or [] for eid, fields in items]

    async def _handle(self, round_id: str, entries: Sequence[Entry]) -> None:
        events: list[OrderEvent] = []
        parked: list[tuple[bytes, dict[bytes, bytes], str]] = []
        gone: list[bytes] = []  # pending ids whose entry was already deleted
        for entry_id, fields in entries:
            if not fields:
                gone.append(entry_id)
                continue
            try:
                events.append(OrderEvent.from_fields(fields))
            except EventFormatError as exc:
                reason = str(exc).split(" {", 1)[0][:60]  # the message echoes fields: cut it
                log.error(
                    "relay.parked round=%s entry=%s reason=%s", round_id, entry_id.decode(), reason
                )
                parked.append((entry_id, fields, reason))
        if events:
            await self._publish(events)
        ids = [eid for eid, fields in entries if fields] + gone
        key = RoundKeys(round_id).outbox
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, fields, reason in parked:
                parked_fields: dict[Any, Any] = {
                    **fields,
                    b"_entry_id": entry_id,
                    b"_reason": reason.encode(),
                }
                pipe.xadd(dead_letter_key(round_id), parked_fields)
            reserved = {e.order_id: e.to_json() for e in events if e.type == "order.reserved"}
            if reserved:
                pipe.hset(ledger_key(round_id), mapping=reserved)  # type: ignore[arg-type]
            pipe.xack(key, GROUP, *ids)
            pipe.xdel(key, *ids)
            await pipe.execute()
        self.stats.published += len(events)
        self.stats.parked += len(parked)
        self.stats.batches += 1
        log.debug("relay.batch round=%s published=%d parked=%d", round_id, len(events), len(parked))

    # -- Kafka -------------------------------------------------------------------------------
    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await started_producer(self.settings)
        return self._producer

    async def _publish(self, events: list[OrderEvent]) -> None:
        """Send the batch and wait until Kafka acknowledged every message (bounded retries)."""
        attempt = 0
        while True:
            try:
                producer = await self._producer_ready()
                futures = [
                    await producer.send(self.topic, e.to_json(), key=e.order_id.encode())
                    for e in events
                ]
                results = await asyncio.gather(*futures, return_exceptions=True)
                failed = [r for r in results if isinstance(r, BaseException)]
                if failed:
                    raise failed[0]
                return
            except (KafkaError, OSError) as exc:
                await self.aclose()  # a fresh idempotent producer for the retry
                attempt += 1
                await pause(
                    self.config.backoff, attempt, self.stop_event, log, "relay publish", exc
                )
                if self.stop_event.is_set():
                    raise Stopped from exc
