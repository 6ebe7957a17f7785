"""A PostgreSQL sink's errors, and isolating the events it rejects.

Every consumer that writes a batch of events to PostgreSQL (the writer, fulfillment intake)
treats an event the sink can never store as that event's problem and an outage as everyone's.
The driver's errors are translated at this boundary (:func:`translate`)::

    SinkError                (code, retriable, reason)
     ├── SinkUnavailable     retriable: connection lost, server shutting down,
     │                       serialization/deadlock (SQLSTATE classes 08/40/53/57, OS errors)
     ├── SinkRejected        the event's fault, parked: SQLSTATE class 22 (data exception), 23
     │                       (integrity constraint), 54 (program limit, e.g. an index row too
     │                       big), or a value the driver cannot encode (wrong type, out of
     │                       range, lone surrogate); ``reason`` = ``sink_rejected:<SQLSTATE>``
     └── SinkFault           not retriable and not the event's fault (any other class: a
                             missing table, a privilege, a server bug): parking every event
                             would empty the topic into the parked table, so the process stops
                             without committing its offsets and says why

:func:`apply_isolating` applies a batch in one transaction; on a permanent rejection it bisects
the batch (each half in its own transaction) down to the single events the sink refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
from aiokafka import TopicPartition

from flashsale.core.errors import FlashsaleError

E = TypeVar("E")


class SinkError(FlashsaleError):
    """A sink (PostgreSQL) failed on a batch; ``retriable`` tells an outage from a rejection."""

    code = "sink_error"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.code


class SinkUnavailable(SinkError):
    code = "sink_unavailable"
    retriable = True


class SinkRejected(SinkError):
    code = "sink_rejected"


class SinkFault(SinkError):
    code = "sink_fault"


_RETRIABLE_SQLSTATE_CLASSES = ("08", "40", "53", "57")  # connection, txn rollback, resources, op
_EVENT_SQLSTATE_CLASSES = ("22", "23", "54")  # data exception, integrity, program limit
# a value the driver cannot encode (wrong type, out of range, lone surrogate): the data's fault
_VALUE_ERRORS = (TypeError, ValueError, ArithmeticError)
#: What a PostgreSQL call can raise that :func:`translate` classifies.
SINK_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, *_VALUE_ERRORS)


def translate(exc: BaseException) -> SinkError:
    """Map an asyncpg / OS / encoding error to the tree above."""
    if isinstance(exc, SinkError):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        message = f"PostgreSQL {type(exc).__name__} (SQLSTATE {state})"
        if state[:2] in _RETRIABLE_SQLSTATE_CLASSES:
            return SinkUnavailable(message)
        if state[:2] in _EVENT_SQLSTATE_CLASSES:
            return SinkRejected(message, f"sink_rejected:{state}")
        return SinkFault(message)
    if isinstance(exc, _VALUE_ERRORS):
        return SinkRejected(
            f"value not storable: {type(exc).__name__}", f"sink_rejected:{type(exc).__name__}"
        )
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncio.TimeoutError):
        return SinkUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}")
    return SinkError(type(exc).__name__)


@dataclass(frozen=True)
class Delivered(Generic[E]):
    """One decoded message and where it came from."""

    tp: TopicPartition
    offset: int
    raw: bytes | None
    event: E


#: Writes a batch of decoded events on one connection (in one transaction); returns a count.
Apply = Callable[[asyncpg.Connection, list[E]], Awaitable[int]]


async def apply_isolating(
    pool: asyncpg.Pool, apply: Apply[E], items: list[Delivered[E]]
) -> tuple[int, list[tuple[Delivered[E], SinkError]]]:
    """Apply ``items`` in one transaction; on a permanent rejection bisect (each half in its own
    transaction) down to the single events the sink rejects. Returns (the apply results summed,
    the rejected items with their error). An outage raises :class:`SinkUnavailable`, a fault
    of the sink itself :class:`SinkFault`."""
    if not items:
        return 0, []
    try:
        async with pool.acquire() as conn:
            return await apply(conn, [i.event for i in items]), []
    except SINK_ERRORS as exc:
        error = translate(exc)
        if not isinstance(error, SinkRejected):
            raise error from exc
        if len(items) == 1:
            return 0, [(items[0], error)]
    mid = len(items) // 2
    first, bad_first = await apply_isolating(pool, apply, items[:mid])
    second, bad_second = await apply_isolating(pool, apply, items[mid:])
    return first + second, bad_first + bad_second
