"""`flashsale round create|edit|list|show|arm|pause|resume|extend|restock|close|report`."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

import catalog
from catalog import control, times
from catalog.connections import LazyInventory, pg
from catalog.edit import edit_round
from flashsale.cli._output import CliError, console, emit, json_option, wide_option
from flashsale.cli.common import (
    execute,
    localize,
    operator,
    opt,
    settings,
    token_file_option,
    tz_option,
)
from flashsale.cli.common import zone as get_zone
from flashsale.core.audit import Operator
from flashsale.core.redis import redis_client
from inventory import Inventory, InventoryError
from inventory.spec import CHANNELS, ROUND_STATUSES

LEAD_ENV = "FLASHSALE_ARM_LEAD_MINUTES"
COLUMNS = [
    "id",
    "offer_id",
    "offer_name",
    "stocked",
    "starts_at",
    "ends_at",
    "status",
    "channels",
    "per_account_limit",
    "per_id_limit",
    "hold_seconds",
    "number_choice",
    "number_pool",
    "armed",
]
# What `round list` drops first on a narrow terminal (last named first); --wide keeps all.
LIST_OPTIONAL = [
    "armed",
    "channels",
    "offer_name",
    "number_pool",
    "per_account_limit",
    "per_id_limit",
    "offer_id",
    "hold_seconds",
    "number_choice",
]
Action = Callable[[Any, LazyInventory], Awaitable[Any]]


def _show(
    rnd: dict[str, Any],
    tz: ZoneInfo,
    as_json: bool,
    extra: dict[str, Any] | None = None,
    title: str | None = None,
) -> None:
    data = localize(rnd, tz)
    if as_json:
        emit(data | (extra or {}), True)
        return
    row = data | {"channels": ",".join(data["channels"])}
    fields = [
        *COLUMNS,
        "restocked",
        "buckets",
        "variant_sku",
        "product_name",
        "sold_out_at",
        "armed_at",
        "created_at",
    ]
    per_bucket = [
        {"field": f"bucket {b['bucket']}", "value": f"{b['left']} left of {b['stocked']} "
         f"({b['held']} held, {b['paid']} paid)"}
        for b in (extra or {}).get("bucket_stock", [])
    ]  # fmt: skip
    emit(
        row,
        False,
        rows=[{"field": f, "value": row.get(f)} for f in fields] + per_bucket,
        columns=["field", "value"],
        title=title or f"round {data['id']} ({tz.key})",
    )


async def _with(action: Action) -> Any:
    cfg = settings()
    async with pg(cfg) as conn:
        inv = LazyInventory(cfg)
        try:
            return await action(conn, inv)
        finally:
            await inv.aclose()


def _lead(minutes: float | None) -> timedelta:
    if minutes is None:
        raw = os.environ.get(LEAD_ENV, "10")
        try:
            minutes = float(raw)
        except ValueError:
            raise CliError(f"{LEAD_ENV} must be a number of minutes, got {raw!r}") from None
    return timedelta(minutes=max(minutes, 0))


yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
FAR_AHEAD = timedelta(days=365)
LATE = timedelta(minutes=1)


def confirm_start(starts_at: datetime, now: datetime, tz: ZoneInfo, yes: bool) -> None:
    """Ask before a start in the past (live at once) or more than a year ahead."""
    shown = times.show(starts_at, tz)
    if starts_at < now - LATE:
        doubt = (
            f"the start {shown} is {times.span(now - starts_at)} in the past: it goes live at once"
        )
    elif starts_at > now + FAR_AHEAD:
        doubt = f"the start {shown} is {times.span(starts_at - now)} away"
    else:
        return
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{doubt}; add --yes if that is meant", code="confirmation_required")
    click.echo(f"warning: {doubt}", err=True)
    click.confirm("Create it anyway?", abort=True, err=True)


@click.group("round")
def round_group() -> None:
    """Sale rounds: a timed drop of one offer with its stock, window and limits."""


@round_group.command("create")
@click.option("--offer", "offer_id", required=True, type=int, help="Offer id.")
@click.option("--stock", required=True, type=int, help="Units for sale.")
@click.option(
    "--starts",
    required=True,
    help="Start: ISO 8601 with offset, a local time in --tz, 'now' or '+10m'.",
)
@click.option("--ends", default=None, help="End (same forms as --starts).")
@click.option("--duration", default=None, help="Instead of --ends: e.g. 2h, 90m, 1d.")
@opt(
    "--per-account",
    "per_account",
    kind=int,
    default=1,
    help="Units one buyer account may buy.",
)
@opt(
    "--per-id",
    "per_id",
    kind=int,
    default=1,
    help="Units one national ID number may buy (real-name rule).",
)
@opt(
    "--hold-seconds",
    kind=int,
    default=900,
    help="How long a reservation waits for payment.",
)
@click.option(
    "--number-choice/--no-number-choice",
    default=False,
    help="Shoppers pick their phone number (needs --number-pool).",
)
@click.option("--number-pool", default=None, help="Number pool name.")
@opt(
    "--channels",
    default=",".join(CHANNELS),
    help="Channels allowed, comma-separated.",
)
@click.option("--variant", "variant_sku", default=None, help="Handset variant SKU.")
@click.option("--id", "round_id", default=None, help="Round id (default: generated, short).")
@opt(
    "--buckets",
    kind=int,
    default=1,
    help="Split the stock over this many Redis Cluster hash tags (1-64; a hot round's "
    "reservations then spread over the masters; not with --number-choice).",
)
@click.option(
    "--arm-lead",
    type=float,
    default=None,
    help=f"Arm now if the round starts within this many minutes (${LEAD_ENV}, 10).",
)
@click.option("--no-arm", is_flag=True, help="Never arm now; leave it to the armer.")
@yes_option
@token_file_option
@tz_option
@json_option
def create(
    offer_id: int,
    stock: int,
    starts: str,
    ends: str | None,
    duration: str | None,
    per_account: int,
    per_id: int,
    hold_seconds: int,
    number_choice: bool,
    number_pool: str | None,
    channels: str,
    variant_sku: str | None,
    round_id: str | None,
    buckets: int,
    arm_lead: float | None,
    no_arm: bool,
    yes: bool,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Create a sale round; arm it into Redis at once if it starts within the lead time.
    A start in the past (the round would go live at once) or more than a year ahead asks for
    confirmation first (--yes skips it; without a terminal it is refused).

    \b
    Examples:
      flashsale round create --offer 1 --stock 100000 --starts 2026-05-17T10:00+08:00 \\
          --duration 12h --channels web,mobile,sms
      flashsale round create --offer 2 --stock 500 --starts "2026-05-17 20:00" \\
          --tz Europe/Berlin --ends "2026-05-17 22:00" --per-id 1 --hold-seconds 600 --json
      flashsale round create --offer 3 --stock 50 --starts +5m --duration 1h \\
          --number-choice --number-pool lucky
      flashsale round create --offer 1 --stock 100000 --starts +1m --duration 1h --buckets 8
    """
    op, tz = operator(token_file), get_zone(tz_name)
    lead = _lead(arm_lead)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        starts_at = times.parse_time(starts, tz, now)
        if (ends is None) == (duration is None):
            raise catalog.InvalidInput("give exactly one of --ends and --duration")
        ends_at = (
            times.parse_time(ends, tz, now)
            if ends is not None
            else starts_at + times.parse_duration(duration or "")
        )
    except catalog.CatalogError as exc:
        raise CliError(exc.message, code=exc.code) from None
    if ends_at > now:
        confirm_start(starts_at, now, tz, yes)
    inp = catalog.RoundInput(
        offer_id=offer_id,
        stock=stock,
        starts_at=starts_at,
        ends_at=ends_at,
        per_account_limit=per_account,
        per_id_limit=per_id,
        hold_seconds=hold_seconds,
        number_choice=number_choice,
        number_pool=number_pool,
        channels=tuple(c.strip() for c in channels.split(",") if c.strip()),
        variant_sku=variant_sku,
        round_id=round_id,
        buckets=buckets,
    )

    async def go(conn: Any, inv: LazyInventory) -> tuple[dict[str, Any], str | None]:
        rnd = await catalog.create_round(conn, op, inp)
        if no_arm or rnd["starts_at"] > datetime.now(UTC) + lead:
            return rnd, None
        try:
            return (await control.arm(conn, inv, rnd["id"], op)).round, None
        except (catalog.CatalogError, ConnectionError) as exc:
            message = exc.message if isinstance(exc, catalog.CatalogError) else str(exc)
            return rnd, message

    rnd, arm_error = execute(_with(go))
    if arm_error:
        click.echo(
            f"warning: round {rnd['id']} created but not armed ({arm_error}); "
            f"`flashsale round arm {rnd['id']}` or the armer will arm it",
            err=True,
        )
    _show(rnd, tz, as_json, title="round created")


@round_group.command("edit")
@click.argument("round_id")
@click.option("--starts", default=None, help="New start (same forms as `round create`).")
@click.option("--ends", default=None, help="New end.")
@click.option("--stock", type=int, default=None, help="New stock (units for sale).")
@click.option("--per-account", "per_account", type=int, default=None, help="Units per account.")
@click.option("--per-id", "per_id", type=int, default=None, help="Units per national ID number.")
@yes_option
@token_file_option
@tz_option
@json_option
def edit(
    round_id: str,
    starts: str | None,
    ends: str | None,
    stock: int | None,
    per_account: int | None,
    per_id: int | None,
    yes: bool,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Fix a round that has not started and is not yet armed: its start, end, stock or
    limits (audited, with the values before and after). The same checks as `round create`.

    \b
    Examples:
      flashsale round edit r7k2m9qa --starts "2026-05-17 20:00" --ends "2026-05-17 22:00"
      flashsale round edit r7k2m9qa --stock 5000 --per-id 2 --json
    """
    op, tz = operator(token_file), get_zone(tz_name)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        starts_at = None if starts is None else times.parse_time(starts, tz, now)
        ends_at = None if ends is None else times.parse_time(ends, tz, now)
    except catalog.CatalogError as exc:
        raise CliError(exc.message, code=exc.code) from None
    if starts_at is not None:
        confirm_start(starts_at, now, tz, yes)

    async def go(conn: Any, _inv: LazyInventory) -> dict[str, Any]:
        return await edit_round(
            conn,
            op,
            round_id,
            starts_at=starts_at,
            ends_at=ends_at,
            stock=stock,
            per_account_limit=per_account,
            per_id_limit=per_id,
        )

    rnd = execute(_with(go))
    if not as_json:
        console.print(f"round {round_id}: " + ("edited" if rnd["changed"] else "nothing changed"))
    _show(rnd, tz, as_json, title=f"round {round_id} ({tz.key})")


@round_group.command("list")
@click.option("--status", type=click.Choice(ROUND_STATUSES), default=None)
@click.option("--offer", "offer_id", type=int, default=None)
@tz_option
@wide_option
@json_option
def list_(status: str | None, offer_id: int | None, tz_name: str | None, as_json: bool) -> None:
    """Rounds by start time, times in --tz. Ids and times are never cut: on a narrow terminal
    the less needed columns go first (--wide shows them all).

    \b
    Examples:
      flashsale round list
      flashsale round list --status live --tz UTC --wide
    """
    tz = get_zone(tz_name)

    async def go(conn: Any, _inv: LazyInventory) -> list[dict[str, Any]]:
        return await catalog.list_rounds(conn, status, offer_id)

    rounds = localize(execute(_with(go)), tz)
    emit(
        rounds,
        as_json,
        rows=[r | {"channels": ",".join(r["channels"])} for r in rounds],
        columns=COLUMNS,
        title=f"rounds ({tz.key})",
        optional=LIST_OPTIONAL,
    )


@round_group.command("show")
@click.argument("round_id")
@tz_option
@json_option
def show(round_id: str, tz_name: str | None, as_json: bool) -> None:
    """One round, times in --tz.

    \b
    Examples:
      flashsale round show r7k2m9qa
      flashsale round show r7k2m9qa --tz America/New_York --json
    """
    tz = get_zone(tz_name)

    async def go(conn: Any, _inv: LazyInventory) -> tuple[dict[str, Any], dict[str, Any]]:
        rnd = await catalog.get_round(conn, round_id)
        return rnd, await _bucket_stock(rnd)

    rnd, extra = execute(_with(go))
    _show(rnd, tz, as_json, extra)


async def _bucket_stock(rnd: dict[str, Any]) -> dict[str, Any]:
    """``{"bucket_stock": [...]}``: each bucket's stock of an armed round of several buckets
    (from Redis), else nothing."""
    if rnd.get("buckets", 1) <= 1 or not rnd["armed"]:
        return {}
    client = redis_client(settings().redis_url)
    inv = Inventory(client)
    try:
        parts = await inv.bucket_stats(rnd["id"])
    except InventoryError as exc:
        click.echo(f"warning: bucket stock not read from Redis ({exc.message})", err=True)
        return {}
    finally:
        await inv.aclose()
        await client.aclose()
    return {"bucket_stock": [
        {"bucket": b, "stocked": p.stocked, "left": p.left, "held": p.held, "paid": p.paid}
        for b, p in enumerate(parts)
    ]}  # fmt: skip


def _control(
    round_id: str,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
    call: Callable[[Any, LazyInventory, Operator], Awaitable[control.Outcome]],
    verb: str,
) -> None:
    op, tz = operator(token_file), get_zone(tz_name)

    async def go(conn: Any, inv: LazyInventory) -> control.Outcome:
        return await call(conn, inv, op)

    outcome = execute(_with(go))
    detail = {"changed": outcome.changed, **outcome.detail}
    if not as_json:
        console.print(
            f"round {round_id}: {verb}"
            if outcome.changed
            else f"round {round_id}: already {verb} (nothing changed)"
        )
    _show(outcome.round, tz, as_json, extra=detail)


def _simple(name: str, verb: str, fn: Callable[..., Awaitable[control.Outcome]], doc: str) -> None:
    @round_group.command(name, help=doc)
    @click.argument("round_id")
    @token_file_option
    @tz_option
    @json_option
    def command(round_id: str, token_file: Path | None, tz_name: str | None, as_json: bool) -> None:
        _control(
            round_id,
            token_file,
            tz_name,
            as_json,
            lambda conn, inv, op: fn(conn, inv, op, round_id),
            verb,
        )


_simple(
    "pause",
    "paused",
    control.pause,
    """Stop selling at once (Redis too); safe to repeat.

\b
Examples:
  flashsale round pause r7k2m9qa
""",
)
_simple(
    "resume",
    "resumed",
    control.resume,
    """Sell again after a pause; safe to repeat.

\b
Examples:
  flashsale round resume r7k2m9qa --json
""",
)
_simple(
    "close",
    "closed",
    control.close,
    """End the round for good; safe to repeat.

\b
Examples:
  flashsale round close r7k2m9qa
""",
)


@round_group.command("arm")
@click.argument("round_id")
@token_file_option
@tz_option
@json_option
def arm(round_id: str, token_file: Path | None, tz_name: str | None, as_json: bool) -> None:
    """Load the round into Redis now (window, limits, stock, hold, numbers, restocks).
    Arming an armed round changes nothing.

    \b
    Examples:
      flashsale round arm r7k2m9qa
    """
    _control(
        round_id,
        token_file,
        tz_name,
        as_json,
        lambda conn, inv, op: control.arm(conn, inv, round_id, op),
        "armed",
    )


@round_group.command("extend")
@click.argument("round_id")
@click.option("--until", "until", default=None, help="New end (ISO 8601, local time in --tz).")
@click.option("--by", "by", default=None, help="Move the end later by e.g. 30m, 2h.")
@token_file_option
@tz_option
@json_option
def extend(
    round_id: str,
    until: str | None,
    by: str | None,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Move the round's end later (Redis too). The same --until again changes nothing.

    \b
    Examples:
      flashsale round extend r7k2m9qa --until 2026-05-17T23:00+08:00
      flashsale round extend r7k2m9qa --by 2h
    """
    op, tz = operator(token_file), get_zone(tz_name)
    if (until is None) == (by is None):
        raise CliError("give exactly one of --until and --by")

    async def go(conn: Any, inv: LazyInventory) -> control.Outcome:
        if until is not None:
            ends_at = times.parse_time(until, tz)
        else:
            current = await catalog.get_round(conn, round_id)
            ends_at = current["ends_at"] + times.parse_duration(by or "")
        return await control.extend(conn, inv, op, round_id, ends_at)

    outcome = execute(_with(go))
    if not as_json:
        console.print(
            f"round {round_id}: ends {times.show(outcome.round['ends_at'], tz)}"
            + ("" if outcome.changed else " (nothing changed)")
        )
    _show(outcome.round, tz, as_json, extra={"changed": outcome.changed})


@round_group.command("restock")
@click.argument("round_id")
@click.argument("units", type=int)
@click.option(
    "--restock-id",
    default=None,
    help="Idempotency id; repeating a restock with the same id adds nothing.",
)
@token_file_option
@tz_option
@json_option
def restock(
    round_id: str,
    units: int,
    restock_id: str | None,
    token_file: Path | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Add UNITS of stock atomically, even while the round sells.

    \b
    Examples:
      flashsale round restock r7k2m9qa 5000
      flashsale round restock r7k2m9qa 5000 --restock-id may17-extra   # safe to repeat
    """
    op, tz = operator(token_file), get_zone(tz_name)

    async def go(conn: Any, inv: LazyInventory) -> control.Outcome:
        return await control.restock(conn, inv, op, round_id, units, restock_id)

    outcome = execute(_with(go))
    if not as_json:
        console.print(
            f"round {round_id}: restock {outcome.detail['restock_id']} of {units} "
            + ("recorded" if outcome.changed else "already recorded (nothing added)")
        )
    _show(outcome.round, tz, as_json, extra={"changed": outcome.changed, **outcome.detail})
