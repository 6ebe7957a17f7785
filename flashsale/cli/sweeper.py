"""`flashsale sweeper`: releases expired holds and arms rounds that are about to start."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import click
import redis.asyncio as aioredis

from flashsale.catalog.armer import run_armer
from flashsale.settings import Settings
from inventory import Inventory
from inventory.sweeper import run_sweeper

from ._output import run
from ._signals import log_option, on_signals, setup_logging


@click.command()
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between sweeps.",
)
@click.option(
    "--lead",
    default=600,
    show_default=True,
    type=click.IntRange(0),
    help="Arm rounds starting within this many seconds.",
)
@click.option("--no-armer", is_flag=True, help="Only sweep; do not arm rounds.")
@log_option
def sweeper(interval: float, lead: int, no_armer: bool, log_level: str) -> None:
    """Release unpaid holds past their deadline (each exactly once; several sweepers are safe)
    and arm rounds shortly before they start. Stops cleanly on SIGTERM/SIGINT.

    \b
    Examples:
      flashsale sweeper
      flashsale sweeper --interval 0.2 --no-armer
    """
    setup_logging(log_level)
    run(_main(Settings.from_env(), interval, timedelta(seconds=lead), not no_armer))


async def _main(settings: Settings, interval: float, lead: timedelta, armer: bool) -> None:
    stop = asyncio.Event()
    on_signals(stop.set)
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        async with Inventory(client) as inventory:
            jobs: list[Coroutine[Any, Any, object]] = [
                run_sweeper(inventory, client, stop=stop, interval=interval)
            ]
            if armer:
                jobs.append(run_armer(settings, stop, lead=lead))
            await asyncio.gather(*jobs)
    finally:
        await client.aclose()
