"""Parked events: the one dead-letter store of the pipeline (table ``parked_events``).

Every long-running process — the writer, fulfillment intake, the relay and the sweeper — treats
an event or a round it can never handle (a sink rejects it with SQLSTATE class 22/23, it does not
decode, it is over the Kafka message size, a script fails for one round) as that event's
problem: it calls :func:`park` with a stable reason code and goes on. Only outages are retried.

- **Idempotent**: each record has a ``dedupe_key`` (the Kafka position, the stream entry, or the
  round and a time bucket), so a replayed batch parks nothing twice.
- **Never rejected itself**: the payload is ``bytea``; every text column is cleaned
  (:func:`clean`: valid UTF-8, no NUL, bounded). Logs carry ids and reason codes, never payloads.
- **Counted**: ``flashsale_parked_events_total{process, reason}`` (:data:`PARKED`).
- **Operators**: :func:`list_parked`, :func:`summary` (dashboard), :func:`open_count` (reconcile),
  :func:`resolve` (audited with the operator credential); re-feeding a record where it came
  from is the pipeline's (``checkout.pipeline.parking.retry``), which closes it with
  :func:`close`.

The store needs only a payload and ids (an event is anything with ``event_id``, ``order_id``
and ``round_id``), so it lives in core: the writer, fulfillment, the relay and the sweeper all
park here without importing one another.

    ParkingError (code)
     ├── NotFound            code "parked.not_found"
     └── RetryFailed         code "parked.retry_failed"   (the record stays parked)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import orjson
from prometheus_client import Counter

from flashsale.core.audit import Operator, audit
from flashsale.core.db import record_dict as as_dict  # a parked row as JSON (also parking's)
from flashsale.core.sink import SINK_ERRORS

log = logging.getLogger("flashsale.parking")
PARKED = Counter(
    "flashsale_parked_events_total",
    "Events or rounds a pipeline process parked instead of failing on them, by process "
    "(writer, fulfillment, relay, sweeper) and stable reason code.",
    ("process", "reason"),
)

PROCESSES = ("writer", "fulfillment", "relay", "sweeper")
STATES = ("parked", "retried", "resolved")
TEXT_LIMIT = 200
MESSAGE_LIMIT = 300

_INSERT = """
INSERT INTO parked_events (process, dedupe_key, topic, kafka_partition, kafka_offset, round_id,
                           entry_id, event_id, order_id, reason, message, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"""
# What a listing or a closing answers: every column but the payload, and the payload's size.
_COLUMNS = """
id, process, reason, message, topic, kafka_partition, kafka_offset, round_id, entry_id, event_id,
order_id, state, created_at, retried_at, retried_by, resolved_at, resolved_by,
octet_length(payload) AS payload_bytes"""
_LIST = (
    "SELECT" + _COLUMNS + " FROM parked_events"
    " WHERE ($1 OR state = 'parked') AND ($2::text IS NULL OR process = $2)"
    " AND ($3::text IS NULL OR round_id = $3) ORDER BY id LIMIT $4"
)
_CLOSE = {
    "retried": "UPDATE parked_events SET state = $2, retried_at = now(), retried_by = $3"  # noqa: S608
    " WHERE id = $1 RETURNING" + _COLUMNS,
    "resolved": "UPDATE parked_events SET state = $2, resolved_at = now(), resolved_by = $3"  # noqa: S608
    " WHERE id = $1 RETURNING" + _COLUMNS,
}


class Identified(Protocol):
    """What the store reads from a decoded event (e.g. ``checkout.events.OrderEvent``)."""

    @property
    def event_id(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def round_id(self) -> str: ...


def clean(text: object, limit: int = TEXT_LIMIT) -> str:
    """Text any PostgreSQL text column accepts: valid UTF-8, NUL replaced, at most ``limit``."""
    value = text if isinstance(text, str) else str(text)
    value = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return value[:limit]


def _opt(text: object) -> str | None:
    return None if text is None else clean(text)


@dataclass(frozen=True)
class ParkedEvent:
    """One record to park; build it with :meth:`from_kafka`, :meth:`from_entry` or
    :meth:`for_round`."""

    process: str
    dedupe_key: str
    reason: str
    message: str = ""
    payload: bytes | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    round_id: str | None = None
    entry_id: str | None = None
    event_id: str | None = None
    order_id: str | None = None

    @classmethod
    def from_kafka(
        cls,
        process: str,
        topic: str,
        partition: int,
        offset: int,
        payload: bytes | None,
        reason: str,
        message: str = "",
        event: Identified | None = None,
    ) -> ParkedEvent:
        """A Kafka record a consumer could not take."""
        event_id, order_id, round_id = _ids(event, payload)
        key = f"{process}:kafka:{topic}:{partition}:{offset}"
        return cls(process, key, reason, message, payload, topic, partition, offset, round_id,
                   event_id=event_id, order_id=order_id)  # fmt: skip

    @classmethod
    def from_entry(
        cls,
        round_id: str,
        entry_id: str,
        payload: bytes | None,
        reason: str,
        message: str = "",
        event: Identified | None = None,
    ) -> ParkedEvent:
        """An outbox stream entry the relay could not publish."""
        event_id, order_id, _ = _ids(event, payload)
        key = f"relay:entry:{round_id}:{entry_id}"
        return cls("relay", key, reason, message, payload, round_id=round_id, entry_id=entry_id,
                   event_id=event_id, order_id=order_id)  # fmt: skip

    @classmethod
    def for_round(
        cls, process: str, round_id: str, reason: str, message: str, bucket: int
    ) -> ParkedEvent:
        """A round a process could not handle; one record per round, reason and ``bucket``
        (e.g. the hour), so a round failing on every pass is not recorded on every pass."""
        return cls(
            process=process,
            dedupe_key=f"{process}:round:{round_id}:{reason}:{bucket}",
            reason=reason,
            message=message,
            round_id=round_id,
        )

    def row(self) -> tuple[Any, ...]:
        return (
            self.process,
            clean(self.dedupe_key, 1000),
            _opt(self.topic),
            self.partition,
            self.offset,
            _opt(self.round_id),
            _opt(self.entry_id),
            _opt(self.event_id),
            _opt(self.order_id),
            clean(self.reason, 100),
            clean(self.message, MESSAGE_LIMIT),
            self.payload,
        )


def _ids(event: Identified | None, payload: bytes | None) -> tuple[str | None, ...]:
    """(event id, order id, round id) from the event, or best effort from a JSON payload."""
    if event is not None:
        return event.event_id, event.order_id, event.round_id
    obj: object = None
    if payload:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            obj = None
    if not isinstance(obj, dict):
        return None, None, None
    keys = ("event_id", "order_id", "round_id")
    return tuple(v if isinstance(v := obj.get(k), str) else None for k in keys)


async def park(db: asyncpg.Pool | asyncpg.Connection, items: Sequence[ParkedEvent]) -> int:
    """Record ``items`` (one transaction); returns how many were new. Outages propagate (the
    caller retries as for its sink); the insert itself cannot be rejected by the data."""
    if not items:
        return 0
    new: list[ParkedEvent] = []
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            new = await _insert(conn, items)
    else:
        new = await _insert(db, items)
    for item in new:
        PARKED.labels(item.process, item.reason).inc()
        log.error(
            "parked process=%s reason=%s source=%s event=%s",
            item.process,
            item.reason,
            clean(item.dedupe_key),
            clean(item.event_id or "-"),
        )
    return len(new)


async def _insert(conn: asyncpg.Connection, items: Sequence[ParkedEvent]) -> list[ParkedEvent]:
    new = []
    async with conn.transaction():
        for item in items:
            if await conn.fetchval(_INSERT, *item.row()) is not None:
                new.append(item)
    return new


async def list_parked(
    pool: asyncpg.Pool,
    *,
    process: str | None = None,
    round_id: str | None = None,
    include_closed: bool = False,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Parked records, oldest first (without payloads; ``payload_bytes`` says how big)."""
    rows = await pool.fetch(
        _LIST,
        include_closed,
        process,
        round_id,
        limit,
    )
    return [as_dict(r) for r in rows]


async def payload(pool: asyncpg.Pool, parked_id: int) -> bytes | None:
    row = await pool.fetchrow("SELECT payload FROM parked_events WHERE id = $1", parked_id)
    if row is None:
        raise NotFound(f"no parked event {parked_id}")
    value = row["payload"]
    return None if value is None else bytes(value)


async def open_count(pool: asyncpg.Pool, round_id: str) -> tuple[int, list[str]]:
    """Unresolved records of a round and a sample of what they are (``id:reason:order``)."""
    rows = await pool.fetch(
        "SELECT id, process, reason, order_id FROM parked_events "
        "WHERE round_id = $1 AND state = 'parked' ORDER BY id",
        round_id,
    )
    sample = [f"{r['id']}:{r['process']}:{r['reason']}:{r['order_id'] or '-'}" for r in rows]
    return len(rows), sample


async def summary(pool: asyncpg.Pool, latest: int = 5) -> dict[str, Any]:
    """For the ops dashboard: unresolved records by process and reason, and the latest ones."""
    rows = await pool.fetch(
        "SELECT process, reason, count(*) AS n FROM parked_events WHERE state = 'parked' "
        "GROUP BY process, reason ORDER BY process, reason"
    )
    last = await pool.fetch(
        "SELECT id, process, reason, round_id, order_id, created_at FROM parked_events "
        "WHERE state = 'parked' ORDER BY id DESC LIMIT $1",
        latest,
    )
    return {
        "open": sum(int(r["n"]) for r in rows),
        "by_reason": [
            {"process": r["process"], "reason": r["reason"], "count": int(r["n"])} for r in rows
        ],
        "latest": [as_dict(r) for r in last],
    }


class RoundErrors:
    """A process's failures for one round (a script error, a key of the wrong type), recorded at
    most once per round per ``every`` seconds so a round failing on every pass does not flood:
    a log line, the metric, and a parked record (one per round, reason and interval, also
    across instances) when a pool is given. Recording is best effort: PostgreSQL being down
    leaves the log line and the metric."""

    def __init__(self, process: str, pool: asyncpg.Pool | None = None, every: float = 60.0):
        self.process = process
        self.pool = pool
        self.every = every
        self._last: dict[str, float] = {}

    async def record(self, round_id: str, reason: str, exc: BaseException) -> bool:
        """Returns whether this failure was recorded (False: already recorded recently)."""
        now = time.monotonic()
        last = self._last.get(round_id)
        if last is not None and now - last < self.every:
            return False
        # Forget rounds whose interval has passed, so the map holds only recent failures.
        self._last = {r: t for r, t in self._last.items() if now - t < self.every}
        self._last[round_id] = now
        message = clean(f"{type(exc).__name__}: {exc}", MESSAGE_LIMIT)
        log.error("%s.round_error round=%s reason=%s", self.process, clean(round_id), reason)
        item = ParkedEvent.for_round(
            self.process, round_id, reason, message, int(time.time() // self.every)
        )
        if self.pool is not None:
            try:
                await asyncio.wait_for(park(self.pool, [item]), 5.0)
                return True
            except SINK_ERRORS as error:
                log.warning(
                    "%s.round_error not parked (PostgreSQL: %s)", self.process, type(error).__name__
                )
        PARKED.labels(self.process, reason).inc()
        return True

    async def script_error(self, round_id: str, exc: Exception) -> None:
        """``inventory.sweeper``'s ``on_round_error``: reason ``script_error``."""
        await self.record(round_id, "script_error", exc)


class ParkingError(Exception):
    code = "parked.error"


class NotFound(ParkingError):
    code = "parked.not_found"


class RetryFailed(ParkingError):
    code = "parked.retry_failed"


async def close(
    conn: asyncpg.Connection, row: asyncpg.Record, operator: Operator, state: str, **details: Any
) -> dict[str, Any]:
    """Mark a locked record ``retried`` or ``resolved`` and audit it (inside the caller's
    transaction)."""
    updated = await conn.fetchrow(_CLOSE[state], row["id"], state, operator.actor)
    await audit(
        conn,
        operator,
        "parked.retry" if state == "retried" else "parked.resolve",
        str(row["id"]),
        {
            "process": row["process"],
            "reason": row["reason"],
            "order_id": row["order_id"],
            **details,
        },
    )
    return {**as_dict(updated), "changed": True}


async def locked(conn: asyncpg.Connection, parked_id: int) -> asyncpg.Record:
    """The record, locked ``FOR UPDATE``; :class:`NotFound` when there is none."""
    row = await conn.fetchrow("SELECT * FROM parked_events WHERE id = $1 FOR UPDATE", parked_id)
    if row is None:
        raise NotFound(f"no parked event {parked_id}")
    return row


async def resolve(pool: asyncpg.Pool, parked_id: int, operator: Operator) -> dict[str, Any]:
    """Close a record without re-feeding it (handled by hand); audited, idempotent."""
    async with pool.acquire() as conn, conn.transaction():
        row = await locked(conn, parked_id)
        if row["state"] != "parked":
            return {**as_dict(row), "payload": None, "changed": False}
        return await close(conn, row, operator, "resolved")
