"""The clients a CLI command opens: a PostgreSQL pool whose connect failure is a refusal, and
the Kafka topics a long-running process waits for."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError

from flashsale.cli._output import CliError, run
from flashsale.core.db import create_pool
from flashsale.core.retry import Backoff, pause
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics

T = TypeVar("T")


@contextlib.asynccontextmanager
async def pg_pool(settings: Settings, max_size: int = 2) -> AsyncIterator[asyncpg.Pool]:
    """An open pool for the command's work, closed afterwards; PostgreSQL unreachable (after
    the bounded connect retries of :func:`flashsale.core.db.create_pool`) is a
    :class:`CliError`, not a traceback."""
    try:
        pool = await create_pool(settings.database_url, max_size=max_size)
    except ConnectionError as exc:
        raise CliError(str(exc)) from exc
    try:
        yield pool
    finally:
        await pool.close()


def run_refusable(
    settings: Settings,
    call: Callable[[asyncpg.Pool], Awaitable[T]],
    *refusals: type[Exception],
) -> T:
    """Run ``call`` on a fresh pool; one of the domain's ``refusals`` is a one-line CliError."""

    async def main() -> T:
        async with pg_pool(settings) as pool:
            try:
                return await call(pool)
            except refusals as exc:
                raise CliError(str(exc)) from None

    return run(main())


async def topics_ready(
    settings: Settings, backoff: Backoff, stop: asyncio.Event, log: logging.Logger
) -> None:
    """Create the Kafka topics, retrying while Kafka is unreachable (``backoff``'s attempts, then
    its error), or until ``stop`` is set."""
    attempt = 0
    while not stop.is_set():
        try:
            await ensure_topics(settings)
            return
        except (KafkaError, OSError) as exc:
            attempt += 1
            await pause(backoff, attempt, stop, log, "kafka topics", exc)
