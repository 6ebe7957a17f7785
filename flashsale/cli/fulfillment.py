"""`flashsale fulfill` (the worker) and `flashsale fulfillment failed|retry|overdue|track|
seed|stock` (operators)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import asyncpg
import click
from aiokafka.errors import KafkaError

import fulfillment as ff
from flashsale.cli._output import CliError, emit, emit_change, emit_fields, json_option, run
from flashsale.cli._signals import log_option, on_signals, retries_option, setup_logging
from flashsale.cli.clients import pg_pool, run_refusable, topics_ready
from flashsale.cli.common import (
    Field,
    config_options,
    from_options,
    group_option,
    localize,
    operator,
    settings,
    token_file_option,
    tz_option,
    zone,
)
from flashsale.core import kafka
from flashsale.core.audit import audit
from flashsale.core.retry import Backoff
from flashsale.core.sink import SinkError

log = logging.getLogger("flashsale.fulfillment")


_WORKER = (
    Field("--batch", click.IntRange(1, 10_000), "Orders allocated, checked and recorded together."),
    Field(
        "--lanes",
        click.IntRange(1, 16),
        "Batches worked at once (each on its own PostgreSQL connection).",
    ),
    Field("--concurrency", click.IntRange(1, 10_000), "Carrier requests in flight per batch."),
    Field(
        "--lease",
        click.FloatRange(0.5),
        "Seconds before a crashed worker's claimed order is taken over.",
        "lease_seconds",
    ),
    Field(
        "--max-attempts",
        click.IntRange(1, 100),
        "Retriable failures (carrier 5xx/timeout, no stock) before the dead letter.",
    ),
    Field("--track-every", click.FloatRange(0.1), "Seconds between tracking polls."),
)
_CARRIER = (
    Field("--carrier-latency-ms", click.IntRange(0), "Mean carrier round trip.", "latency_ms"),
    Field(
        "--carrier-timeout-ms",
        click.IntRange(1),
        "Give up waiting for the carrier after this (the booking may still exist).",
        "timeout_ms",
    ),
    Field(
        "--carrier-transient-rate",
        click.FloatRange(0, 1),
        "Share of carrier requests failing with 503.",
        "transient_rate",
    ),
    Field(
        "--carrier-permanent-rate",
        click.FloatRange(0, 1),
        "Share of parcels the carrier refuses (422).",
        "permanent_rate",
    ),
    Field(
        "--carrier-lost-rate",
        click.FloatRange(0, 1),
        "Share of parcels lost in transit.",
        "lost_rate",
    ),
    Field(
        "--carrier-step-seconds",
        click.FloatRange(0.01),
        "Time between tracking states (booked → picked up → in transit → delivered).",
        "step_seconds",
    ),
    Field(
        "--carrier-transit-seconds",
        click.FloatRange(0),
        "Delivery estimate promised at booking.",
        "transit_seconds",
    ),
)


@click.command()
@group_option("fulfillment", "Kafka consumer group of the workers.")
@click.option("--worker", default=None, help="Worker name in leases (default host-pid).")
@config_options(ff.FulfillConfig, *_WORKER)
@retries_option
@log_option
@config_options(ff.CarrierConfig, *_CARRIER, prefix="carrier_", env=True)
def fulfill(
    group: str | None, worker: str | None, retries: int, log_level: str, **options: Any
) -> None:
    """Ship paid orders (allocate, check, book, track) until SIGTERM/SIGINT."""
    setup_logging(log_level)
    cfg = settings()
    group = group or kafka.fulfillment_group(cfg.topic_prefix)
    config = from_options(ff.FulfillConfig, options, group=group, backoff=Backoff(attempts=retries))
    if worker:
        config.worker = worker
    ccfg = from_options(ff.CarrierConfig, options, prefix="carrier_")

    async def main() -> None:
        # per lane an allocation, a carrier flush and a record; the claim, intake, publish
        async with pg_pool(cfg, max_size=3 * config.lanes + 3) as pool:
            f = ff.Fulfiller(cfg, pool, ff.SimulatedCarrier(pool, ccfg), config)
            on_signals(f.stop)
            await topics_ready(cfg, config.backoff, f.stop_event, log)
            log.info("fulfill.start worker=%s group=%s carrier=%s", config.worker, group, ccfg.name)
            s = await f.run()
            log.info(
                "fulfill.stop intake=%d booked=%d duplicates=%d retried=%d dead=%d "
                "tracked=%d published=%d",
                s.intake,
                s.booked,
                s.duplicates,
                s.retried,
                s.dead,
                s.tracked,
                s.published,
            )

    try:
        run(main())
    except (KafkaError, OSError, asyncpg.PostgresError, SinkError) as exc:
        raise CliError(f"fulfill gave up: {exc or type(exc).__name__}") from exc


@click.group("fulfillment")
def fulfillment_group() -> None:
    """Operators' view of fulfillment: dead letters, retries, overdue shipments, stock."""


@fulfillment_group.command("failed")
@click.option("--all", "include_requeued", is_flag=True, help="Include re-queued ones.")
@click.option("--round", "round_id", default=None, help="Only this round.")
@tz_option
@json_option
def failed(
    include_requeued: bool, round_id: str | None, tz_name: str | None, as_json: bool
) -> None:
    """List orders that could not be shipped, with the reason.

    \b
    Examples:
      flashsale fulfillment failed
      flashsale fulfillment failed --json --round sim20-r1
    """

    async def main() -> list[dict[str, Any]]:
        async with pg_pool(settings(), 2) as pool:
            return await ff.dead_letters(pool, include_requeued=include_requeued, round_id=round_id)

    rows = localize(run(main()), zone(tz_name))
    emit(
        rows,
        as_json,
        columns=["id", "order_id", "code", "reason", "attempts", "created_at", "requeued_at"],
        title="fulfillment dead letters",
    )


@fulfillment_group.command("retry")
@click.argument("dead_letter_id", type=click.IntRange(1))
@token_file_option
@json_option
def retry(dead_letter_id: int, token_file: Path | None, as_json: bool) -> None:
    """Re-queue one dead-lettered order (operator credential; audited).

    \b
    Examples:
      FLASHSALE_ADMIN_TOKEN=... flashsale fulfillment retry 17
    """
    op = operator(token_file)

    out = run_refusable(
        settings(), lambda pool: ff.requeue(pool, dead_letter_id, op), ff.DeadLetterNotFound
    )
    requeued = f"order {out['order_id']} re-queued"
    emit_change(out, as_json, f"dead letter {dead_letter_id}", requeued, "already re-queued")


@fulfillment_group.command("overdue")
@click.option("--round", "round_id", default=None, help="Only this round.")
@json_option
def overdue(round_id: str | None, as_json: bool) -> None:
    """Shipments past their promised delivery and not delivered, most overdue first."""

    async def main() -> list[dict[str, Any]]:
        async with pg_pool(settings(), 2) as pool:
            return await ff.overdue(pool, round_id=round_id)

    rows = run(main())
    emit(
        rows,
        as_json,
        columns=["order_id", "carrier", "tracking_no", "state", "promised_date", "late_seconds"],
        title="overdue shipments",
    )


@fulfillment_group.command("track")
@click.argument("order_id")
@tz_option
@json_option
def track(order_id: str, tz_name: str | None, as_json: bool) -> None:
    """Show an order's shipment: state, carrier, tracking number, promised date, history."""

    async def main() -> dict[str, Any] | None:
        async with pg_pool(settings(), 2) as pool:
            return await ff.tracking(pool, order_id)

    found = run(main())
    if found is None:
        raise CliError(f"no paid order {order_id} known to fulfillment", code="not_found")
    out = localize(found, zone(tz_name))
    rows = [{"field": k, "value": v} for k, v in out.items() if k not in ("history", "gifts")]
    rows += [{"field": h["state"], "value": h["at"]} for h in out["history"]]
    emit(out, as_json, rows=rows, columns=["field", "value"], title=f"shipment of {order_id}")


_HANDSET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})=(\d+)$")


@fulfillment_group.command("seed")
@click.option("--sims", type=click.IntRange(0, 1_000_000), default=0, help="Blank SIM cards.")
@click.option(
    "--numbers",
    type=click.IntRange(0, 1_000_000),
    default=0,
    help="Spare phone numbers to assign to orders without a chosen one.",
)
@click.option(
    "--handset",
    "handsets",
    multiple=True,
    metavar="SKU=N",
    help="Handsets of a variant (repeatable).",
)
@token_file_option
@json_option
def seed(
    sims: int, numbers: int, handsets: tuple[str, ...], token_file: Path | None, as_json: bool
) -> None:
    """Add generated test/demo stock (valid ICCIDs and IMEIs); operator credential, audited.

    \b
    Examples:
      flashsale fulfillment seed --sims 1000 --numbers 1000 --handset phone-x-128-black=200
    """
    wanted: dict[str, int] = {}
    for h in handsets:
        m = _HANDSET.match(h)
        if m is None:
            raise CliError(f"--handset takes SKU=N, got {h!r}")
        wanted[m[1]] = int(m[2])
    op = operator(token_file)

    async def main() -> dict[str, Any]:
        async with pg_pool(settings(), 2) as pool:
            got = await ff.seed_stock(pool, sim_cards=sims, handsets=wanted, numbers=numbers)
            out = {
                "sim_cards": got.sim_cards,
                "handsets": got.handsets,
                "numbers": got.numbers,
                "tacs": got.tacs,
            }
            async with pool.acquire() as conn:
                await audit(conn, op, "fulfillment.seed", None, out)
            return out

    out = run(main())
    emit_fields(out, as_json, title="stock added")


@fulfillment_group.command("stock")
@json_option
def stock(as_json: bool) -> None:
    """Free stock: blank SIM cards, spare numbers, handsets per variant."""

    async def main() -> dict[str, object]:
        async with pg_pool(settings(), 2) as pool:
            return await ff.stock_levels(pool)

    out = run(main())
    emit_fields(out, as_json, title="fulfillment stock")
