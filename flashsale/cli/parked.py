"""`flashsale parked list|payload|retry|resolve`: the pipeline's parked events (operators).

A process (writer, fulfillment, relay, sweeper) parks an event or a round it can never handle,
with a stable reason code, and goes on (see ``flashsale/core/parked.py``). Here operators see
them,
fetch a payload to correct it, re-feed it (``retry``, optionally with the corrected payload) or
close it by hand (``resolve``). Changes need the operator credential and are audited.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from checkout.pipeline import parking
from flashsale.cli._output import CliError, emit, emit_change, json_option, run
from flashsale.cli.clients import pg_pool, run_refusable
from flashsale.cli.common import input_file_option, operator, settings, token_file_option
from flashsale.core import parked
from flashsale.core.redis import redis_client

_COLUMNS = ["id", "process", "reason", "round_id", "order_id", "source", "created_at", "state"]


def _source(row: dict[str, Any]) -> str:
    if row.get("topic"):
        return f"{row['topic']}[{row['kafka_partition']}]@{row['kafka_offset']}"
    if row.get("entry_id"):
        return f"outbox {row['entry_id']}"
    return "round"


@click.group("parked")
def parked_group() -> None:
    """Events and rounds the pipeline parked instead of failing on them."""


@parked_group.command("list")
@click.option("--process", type=click.Choice(parked.PROCESSES), default=None)
@click.option("--round", "round_id", default=None, help="Only this round.")
@click.option("--all", "include_closed", is_flag=True, help="Include retried and resolved ones.")
@json_option
def list_cmd(
    process: str | None, round_id: str | None, include_closed: bool, as_json: bool
) -> None:
    """List parked events (oldest first), with the reason and where they came from.

    \b
    Examples:
      flashsale parked list
      flashsale parked list --process writer --json
    """

    async def main() -> list[dict[str, Any]]:
        async with pg_pool(settings()) as pool:
            return await parked.list_parked(
                pool, process=process, round_id=round_id, include_closed=include_closed
            )

    rows = run(main())
    for row in rows:
        row["source"] = _source(row)
    emit(rows, as_json, columns=_COLUMNS, title="parked events")


@parked_group.command("payload")
@click.argument("parked_id", type=click.IntRange(1))
def payload_cmd(parked_id: int) -> None:
    """Write a parked event's raw payload to stdout (to correct it for `retry --payload-file`)."""

    async def main() -> bytes | None:
        async with pg_pool(settings()) as pool:
            try:
                return await parked.payload(pool, parked_id)
            except parked.NotFound as exc:
                raise CliError(str(exc)) from None

    data = run(main())
    if data is None:
        raise CliError(f"parked event {parked_id} has no payload (a round record)")
    sys.stdout.buffer.write(data)


def _show(out: dict[str, Any], as_json: bool, done: str) -> None:
    out.pop("payload", None)
    emit_change(out, as_json, f"parked event {out['id']}", done, "already closed")


@parked_group.command("retry")
@click.argument("parked_id", type=click.IntRange(1))
@input_file_option("--payload-file", "Re-publish this corrected payload instead of the parked one.")
@token_file_option
@json_option
def retry_cmd(
    parked_id: int, payload_file: Path | None, token_file: Path | None, as_json: bool
) -> None:
    """Re-feed one parked event (operator credential; audited): a writer/fulfillment/relay event
    is re-published to its topic, a sweeper round is swept once. If it is rejected again, the
    consumer parks it again.

    \b
    Examples:
      FLASHSALE_ADMIN_TOKEN=... flashsale parked retry 12
      flashsale parked payload 12 > e.json  # fix it, then:
      FLASHSALE_ADMIN_TOKEN=... flashsale parked retry 12 --payload-file e.json
    """
    op = operator(token_file)
    replacement = payload_file.read_bytes() if payload_file is not None else None

    async def main() -> dict[str, Any]:
        cfg = settings()
        client = redis_client(cfg.redis_url)
        try:
            async with pg_pool(cfg) as pool:
                return await parking.retry(
                    cfg, pool, client, parked_id, op, replacement=replacement
                )
        except parked.ParkingError as exc:
            raise CliError(str(exc)) from None
        finally:
            await client.aclose()

    _show(run(main()), as_json, "re-fed")


@parked_group.command("resolve")
@click.argument("parked_id", type=click.IntRange(1))
@token_file_option
@json_option
def resolve_cmd(parked_id: int, token_file: Path | None, as_json: bool) -> None:
    """Close one parked event without re-feeding it (handled by hand); operator credential,
    audited."""
    op = operator(token_file)

    out = run_refusable(
        settings(), lambda pool: parked.resolve(pool, parked_id, op), parked.NotFound
    )
    _show(out, as_json, "resolved")
