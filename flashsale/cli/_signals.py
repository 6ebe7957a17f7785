"""What every long-running command shares: graceful stop on SIGTERM/SIGINT, logging setup,
the --log-level and --retries options."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import click


def on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM/SIGINT (from inside the running loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


def setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


log_option = click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Least severe log level written (JSON lines on stderr).",
)
retries_option = click.option(
    "--retries",
    type=click.IntRange(1, 10_000),
    default=30,
    show_default=True,
    help="Consecutive failures (Kafka/PostgreSQL unavailable) before giving up; backoff 0.2s→5s.",
)
