"""`flashsale relay`, `flashsale writer` and `flashsale reconcile ROUND`: the order pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import click
import redis.asyncio as aioredis
from aiokafka.errors import KafkaError

from checkout.pipeline.archive import reconcile_round  # an archived round: archive vs PostgreSQL
from checkout.pipeline.reconcile import repair as do_repair
from checkout.pipeline.relay import Relay, RelayConfig, default_consumer
from checkout.pipeline.writer import Writer, WriterConfig, WriterError
from flashsale.cli._output import CliError, console, emit, json_option, run
from flashsale.cli._signals import log_option, on_signals, retries_option, setup_logging
from flashsale.cli.clients import pg_pool, topics_ready
from flashsale.cli.common import (
    Field,
    config_options,
    from_options,
    group_option,
    opt,
    seconds_option,
)
from flashsale.core.db import create_pool
from flashsale.core.kafka import writer_group
from flashsale.core.redis import redis_client
from flashsale.core.retry import Backoff
from flashsale.core.settings import Settings

log = logging.getLogger("flashsale.pipeline")


@contextlib.asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@click.command()
@click.option(
    "--consumer",
    default=None,
    help="Consumer name in the relay group (default relay-<hostname>, stable across restarts: a "
    "restarted relay resumes its own pending entries at once).",
)
@click.option(
    "--index",
    type=click.IntRange(0, 999),
    default=None,
    help="For several relays on one host: the name becomes relay-<hostname>-<index>.",
)
@config_options(
    RelayConfig,
    Field("--batch", click.IntRange(1, 100_000), "Outbox entries read and published per pass."),
    Field(
        "--min-idle-ms",
        click.IntRange(0),
        "Reclaim other consumers' pending entries idle this long (XAUTOCLAIM).",
    ),
)
@opt(
    "--stale-consumer-s",
    kind=click.IntRange(1),
    default=RelayConfig.stale_consumer_ms // 1000,
    help="Remove other consumers of the group idle this long with nothing pending.",
)
@config_options(
    RelayConfig,
    Field(
        "--max-message-bytes",
        click.IntRange(1024, 16 * 1024 * 1024),
        "Kafka message size limit; a bigger event is parked (reason oversize).",
    ),
)
@click.option("--round-prefix", default="", help="Only rounds whose id starts with this.")
@retries_option
@log_option
def relay(
    consumer: str | None,
    index: int | None,
    stale_consumer_s: int,
    round_prefix: str,
    retries: int,
    log_level: str,
    **options: Any,
) -> None:
    """Relay armed rounds' outbox streams to Kafka until SIGTERM/SIGINT.

    Entries that can never be published (malformed, oversize, refused by Kafka) are parked and
    moved to PostgreSQL's parked events when it is reachable (`flashsale parked list`).
    """
    setup_logging(log_level)
    config = from_options(
        RelayConfig,
        options,
        consumer=consumer or default_consumer(index),
        stale_consumer_ms=stale_consumer_s * 1000,
        round_prefix=round_prefix,
        backoff=Backoff(attempts=retries),
    )

    async def main() -> None:
        settings = Settings.from_env()
        async with _redis(settings) as client, _optional_pool(settings) as pool:
            r = Relay(settings, client, config, pool)
            on_signals(r.stop)
            await topics_ready(settings, config.backoff, r.stop_event, log)
            log.info("relay.start consumer=%s topic=%s", config.consumer, r.topic)
            stats = await r.run()
            log.info(
                "relay.stop published=%d parked=%d claimed=%d round_errors=%d",
                stats.published,
                stats.parked,
                stats.claimed,
                stats.round_errors,
            )

    try:
        run(main())
    except (KafkaError, OSError) as exc:
        raise CliError(f"relay gave up: Kafka unavailable ({type(exc).__name__})") from exc


@contextlib.asynccontextmanager
async def _optional_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool | None]:
    """The relay's PostgreSQL pool for parked entries; without PostgreSQL it still relays (the
    parked entries wait in Redis)."""
    try:
        pool = await create_pool(settings.database_url, max_size=2, attempts=2)
    except ConnectionError as exc:
        log.warning("relay: PostgreSQL unavailable, parked entries stay in Redis: %s", exc)
        yield None
        return
    try:
        yield pool
    finally:
        await pool.close()


@click.command()
@group_option("writer", "Kafka consumer group of the writers.")
@opt(
    "--batch",
    kind=click.IntRange(1, 100_000),
    default=5000,
    help="Max messages per PostgreSQL transaction.",
)
@retries_option
@log_option
def writer(group: str | None, batch: int, retries: int, log_level: str) -> None:
    """Write order events from Kafka to PostgreSQL until SIGTERM/SIGINT."""
    setup_logging(log_level)
    settings = Settings.from_env()
    group = group or writer_group(settings.topic_prefix)
    config = WriterConfig(group=group, max_records=batch, backoff=Backoff(attempts=retries))

    async def main() -> None:
        async with pg_pool(settings, 4) as pool:
            w = Writer(settings, pool, config)
            on_signals(w.stop)
            await topics_ready(settings, config.backoff, w.stop_event, log)
            log.info("writer.start group=%s topic=%s", group, w.topic)
            stats = await w.run()
            log.info(
                "writer.stop messages=%d new_events=%d parked=%d",
                stats.messages,
                stats.new_events,
                stats.parked,
            )

    try:
        run(main())
    except (KafkaError, OSError, WriterError) as exc:
        raise CliError(f"writer gave up: {exc or type(exc).__name__}") from exc


@click.command()
@click.argument("round_id")
@click.option(
    "--repair",
    is_flag=True,
    help="Re-publish events of orders missing downstream, then re-check until --wait runs out.",
)
@seconds_option(
    "--wait", 20.0, "With --repair: seconds to wait for the writers to catch up.", most=600
)
@group_option("writer", "Writer consumer group whose lag is reported.")
@json_option
def reconcile(round_id: str, repair: bool, wait: float, group: str | None, as_json: bool) -> None:
    """Compare a round in Redis with PostgreSQL; exit 0 only when they agree.

    \b
    Examples:
      flashsale reconcile sim20-r1
      flashsale reconcile sim20-r1 --json --repair
    """

    settings = Settings.from_env()
    group = group or writer_group(settings.topic_prefix)

    async def main() -> tuple[dict[str, object], bool]:
        async with _redis(settings) as client, pg_pool(settings, 4) as pool:
            report = await reconcile_round(settings, client, pool, round_id, group=group)
            data = report.as_dict()
            if repair and not report.ok:
                data["republished"] = await do_repair(settings, client, pool, report)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + wait
                while not report.ok and loop.time() < deadline:
                    await asyncio.sleep(0.5)
                    report = await reconcile_round(settings, client, pool, round_id, group=group)
                data = {**report.as_dict(), "republished": data["republished"]}
            return data, report.ok

    data, ok = run(main())
    _show(data, as_json)
    if not ok:
        raise SystemExit(1)


def _show(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        emit(data, True)
        return
    summary = {k: data[k] for k in ("round_id", "source", "redis", "outbox", "kafka_lag", "ok")}
    summary["postgres"] = data["postgres"]
    emit(
        summary,
        False,
        rows=[{"field": k, "value": v} for k, v in summary.items()],
        title=f"reconcile {data['round_id']}",
    )
    diffs = data["differences"]
    assert isinstance(diffs, list)
    for d in diffs:
        sample = ", ".join(d["sample"][:5])
        console.print(
            f"[red]DIFF {d['code']}[/red]: {d['message']}" + (f" (e.g. {sample})" if sample else "")
        )
    if "republished" in data:
        console.print(f"republished {data['republished']} event(s)")
