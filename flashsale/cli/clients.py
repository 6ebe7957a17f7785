"""The clients a CLI command opens: a PostgreSQL pool whose connect failure is a refusal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import asyncpg

from flashsale.cli._output import CliError, run
from flashsale.core.db import create_pool
from flashsale.core.settings import Settings

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
