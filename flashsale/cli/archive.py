"""`flashsale round archive ROUND | --all-finished`: move finished rounds out of Redis
(admin credential; see :mod:`checkout.pipeline.archive` for what "finished" means and what is
kept)."""

from __future__ import annotations

from pathlib import Path

import click

from checkout.pipeline.archive import ArchiveConfig, ArchiveOutcome, Archiver
from flashsale.cli._output import CliError, emit, json_option
from flashsale.cli.common import (
    execute,
    group_option,
    operator,
    seconds_option,
    settings,
    token_file_option,
)
from flashsale.cli.rounds import round_group
from flashsale.core.db import create_pool
from flashsale.core.kafka import writer_group
from flashsale.core.redis import redis_client
from inventory import Inventory


@round_group.command("archive")
@click.argument("round_id", required=False)
@click.option("--all-finished", is_flag=True, help="Every finished round still in Redis.")
@seconds_option(
    "--grace", 0.0, "Seconds a round must have been over (closed or past its end) first."
)
@seconds_option(
    "--settle",
    2.0,
    "Seconds between leaving the armed set and deleting the keys (a relay pass ends).",
    most=300,
)
@group_option("writer", "Writer consumer group reconcile checks.")
@token_file_option
@json_option
def archive(
    round_id: str | None,
    all_finished: bool,
    grace: float,
    settle: float,
    group: str | None,
    token_file: Path | None,
    as_json: bool,
) -> None:
    """Archive a finished round (closed or ended, every hold settled, every event in Kafka and
    PostgreSQL, reconcile clean) into PostgreSQL and delete its Redis keys. A round that is not
    finished is left alone and the reasons are printed. Safe to repeat and to resume.

    \b
    Examples:
      flashsale round archive r7k2m9qa
      flashsale round archive --all-finished --grace 3600 --json
    """
    if (round_id is None) == (not all_finished):
        raise CliError("give a ROUND or --all-finished (not both)")
    op, cfg = operator(token_file), settings()
    writers = group or writer_group(cfg.topic_prefix)
    config = ArchiveConfig(grace=grace, settle=settle, writer_group=writers)

    async def go() -> list[ArchiveOutcome]:
        pool = await create_pool(cfg.database_url, max_size=2)
        redis = redis_client(cfg.redis_url)
        try:
            async with Inventory(redis) as inventory:
                archiver = Archiver(cfg, redis, pool, inventory, config, op)
                ids = await archiver.candidates() if all_finished else [str(round_id)]
                return [await archiver.archive(r) for r in ids]
        finally:
            await redis.aclose()
            await pool.close()

    outcomes = execute(go())
    emit(
        [o.as_dict() for o in outcomes],
        as_json,
        rows=[o.as_dict() | {"reasons": "; ".join(o.reasons)} for o in outcomes],
        columns=["round_id", "state", "orders", "deleted_keys", "reasons"],
        title="round archive",
    )
    if round_id is not None and outcomes and outcomes[0].state != "archived":
        raise SystemExit(1)  # not archived: the reasons were printed
