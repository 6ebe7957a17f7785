"""`flashsale sweeper`: releases expired holds, arms rounds that are about to start and
archives finished rounds out of Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import click
import redis.asyncio as aioredis

from catalog.armer import run_armer
from checkout.pipeline.archive import ArchiveConfig, Archiver, run_archiver
from flashsale.cli._output import run
from flashsale.cli._signals import log_option, on_signals, setup_logging
from flashsale.cli.common import opt
from flashsale.core.db import create_pool
from flashsale.core.kafka import writer_group
from flashsale.core.parked import RoundErrors
from flashsale.core.redis import redis_client
from flashsale.core.retry import sleep_unless_stopped
from flashsale.core.settings import Settings
from inventory import Inventory
from inventory.sweeper import run_sweeper

log = logging.getLogger("flashsale.sweeper")


@click.command()
@opt(
    "--interval",
    default=0.5,
    kind=click.FloatRange(0.05, 60),
    help="Seconds between sweeps.",
)
@opt(
    "--lead",
    default=600,
    kind=click.IntRange(0),
    help="Arm rounds starting within this many seconds.",
)
@click.option("--no-armer", is_flag=True, help="Only sweep; do not arm rounds.")
@opt(
    "--archive-every",
    default=30.0,
    kind=click.FloatRange(0),
    help="Seconds between archive passes over finished rounds (0: never archive).",
)
@opt(
    "--archive-grace",
    default=3600.0,
    kind=click.FloatRange(0),
    help="Keep a round in Redis this many seconds after it closed or ended (client retries "
    "replay their outcome; later, a payment for its orders is recorded for refund).",
)
@opt(
    "--archive-settle",
    default=10.0,
    kind=click.FloatRange(0, 300),
    help="Seconds between a round leaving the armed set and its keys being deleted.",
)
@log_option
def sweeper(
    interval: float,
    lead: int,
    no_armer: bool,
    archive_every: float,
    archive_grace: float,
    archive_settle: float,
    log_level: str,
) -> None:
    """Release unpaid holds past their deadline (each exactly once; several sweepers are safe)
    and arm rounds shortly before they start; archive finished rounds (every hold settled,
    reconcile clean) into PostgreSQL and delete their Redis keys. Stops cleanly on
    SIGTERM/SIGINT.

    \b
    Examples:
      flashsale sweeper
      flashsale sweeper --interval 0.2 --no-armer
      flashsale sweeper --archive-grace 3600 --archive-every 60
    """
    setup_logging(log_level)
    settings = Settings.from_env()
    archive = (
        ArchiveConfig(
            grace=archive_grace,
            settle=archive_settle,
            wait_settle=False,
            writer_group=writer_group(settings.topic_prefix),
        )
        if archive_every > 0
        else None
    )
    run(_main(settings, interval, timedelta(seconds=lead), not no_armer, archive, archive_every))


async def _archive(
    settings: Settings,
    client: aioredis.Redis,
    inventory: Inventory,
    stop: asyncio.Event,
    config: ArchiveConfig,
    every: float,
) -> None:
    """Archive finished rounds; PostgreSQL being down only postpones it (sweeping goes on)."""
    while not stop.is_set():
        try:
            pool = await create_pool(settings.database_url, max_size=2)
        except ConnectionError as exc:
            log.warning("archiver waits for PostgreSQL: %s", exc)
            await sleep_unless_stopped(stop, every)
            continue
        try:
            await run_archiver(Archiver(settings, client, pool, inventory, config), stop, every)
        finally:
            await pool.close()


async def _main(
    settings: Settings,
    interval: float,
    lead: timedelta,
    armer: bool,
    archive: ArchiveConfig | None = None,
    archive_every: float = 30.0,
) -> None:
    stop = asyncio.Event()
    on_signals(stop.set)
    client = redis_client(settings.redis_url)
    try:
        async with Inventory(client) as inventory:
            jobs: list[Coroutine[Any, Any, object]] = [
                _sweep(settings, inventory, client, stop, interval)
            ]
            if armer:
                jobs.append(run_armer(settings, stop, lead=lead))
            if archive is not None:
                jobs.append(_archive(settings, client, inventory, stop, archive, archive_every))
            await asyncio.gather(*jobs)
    finally:
        await client.aclose()


async def _sweep(
    settings: Settings,
    inventory: Inventory,
    client: aioredis.Redis,
    stop: asyncio.Event,
    interval: float,
) -> int:
    """The sweep loop; a round whose script fails is recorded as a parked event (in PostgreSQL
    when reachable, else logged and counted) and the other rounds are swept."""
    try:
        pool = await create_pool(settings.database_url, max_size=1, attempts=2)
    except ConnectionError as exc:
        log.warning("sweeper: PostgreSQL unavailable, round errors are only logged: %s", exc)
        pool = None
    errors = RoundErrors("sweeper", pool)
    try:
        return await run_sweeper(
            inventory, client, stop=stop, interval=interval, on_round_error=errors.script_error
        )
    finally:
        if pool is not None:
            await pool.close()
