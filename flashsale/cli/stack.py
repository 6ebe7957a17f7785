"""`flashsale stack up|down|status` and `flashsale db migrate` / `flashsale topics ensure`."""

from __future__ import annotations

import asyncpg
import click

from flashsale.cli._output import CliError, console, emit, json_option, run
from flashsale.core.db import MigrationError, migrate
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from flashsale.stack import Stack, StackError


@click.group()
def stack() -> None:
    """The local stack: Redis, PostgreSQL and Kafka on loopback (data in .flashsale/)."""


@stack.command()
@click.option("--no-init", is_flag=True, help="Skip migrations and topic creation.")
@click.option(
    "--cluster",
    is_flag=True,
    help="The cluster profile: a 3-master Redis Cluster (7001-7003), two fronts (8001, 8002) "
    "behind HAProxy on :8000, two writers, two fulfillers, a relay and a sweeper.",
)
@json_option
def up(no_init: bool, cluster: bool, as_json: bool) -> None:
    """Start what is not already running and wait until each service is ready.

    \b
    Examples:
      flashsale stack up
      FLASHSALE_REDIS_URL=redis://10.0.0.5:6379/0 flashsale stack up   # external Redis
      flashsale stack up --cluster     # then: export FLASHSALE_REDIS_URL=redis+cluster://127.0.0.1:7001
    """
    settings = Settings.from_env()
    say = (lambda _msg: None) if as_json else console.print

    async def init() -> None:
        if no_init:
            return
        applied = await _migrate(settings.database_url)
        say(f"postgres: {len(applied)} migration(s) applied")
        topics = await ensure_topics(settings)
        say(f"kafka: topics {', '.join(f'{n}({p})' for n, p in topics.items())}")

    try:
        statuses = run(Stack(settings, cluster=cluster).up(report=say, init=init))
    except (StackError, MigrationError) as exc:
        raise CliError(str(exc)) from exc
    _show([s.as_dict() for s in statuses], as_json)


@stack.command()
def down() -> None:
    """Stop the services `stack up` started; leave external ones alone."""
    Stack(Settings.from_env()).down(report=console.print)


@stack.command()
@json_option
def status(as_json: bool) -> None:
    """Each service's address and state."""
    settings = Settings.from_env()
    stack_ = Stack(settings)
    statuses = run(stack_.status())
    _show([s.as_dict() for s in statuses], as_json, run(stack_.topology(settings)))
    if any(s.state != "running" for s in statuses):
        raise SystemExit(3)


def _show(
    rows: list[dict[str, object]], as_json: bool, topology: dict[str, object] | None = None
) -> None:
    emit(
        {"services": rows, **(topology or {})},
        as_json,
        rows=rows,
        columns=["name", "address", "state", "managed", "pid", "detail"],
    )


async def _migrate(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [f"{m.version:04d}_{m.name}" for m in await migrate(conn)]
    finally:
        await conn.close()


@click.group()
def db() -> None:
    """PostgreSQL schema."""


@db.command("migrate")
@json_option
def db_migrate(as_json: bool) -> None:
    """Apply pending SQL migrations in order (idempotent)."""
    try:
        applied = run(_migrate(Settings.from_env().database_url))
    except (MigrationError, OSError) as exc:
        raise CliError(str(exc)) from exc
    emit(
        {"applied": applied},
        as_json,
        rows=[{"applied": name} for name in applied] or [{"applied": "(up to date)"}],
    )


@click.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("ensure")
@click.option(
    "--partitions",
    type=click.IntRange(1, 1024),
    default=None,
    help="Partition count (default FLASHSALE_KAFKA_PARTITIONS or 4).",
)
@json_option
def topics_ensure(partitions: int | None, as_json: bool) -> None:
    """Create the order/shipment/dead-letter topics if missing (idempotent)."""
    counts = run(ensure_topics(Settings.from_env(), partitions))
    emit(counts, as_json, rows=[{"topic": n, "partitions": p} for n, p in counts.items()])
