"""`flashsale round report ROUND [--plot [PNG]]`: a round's figures, true at every stage.

The figures and their meaning come from :func:`catalog.round_report` (which takes the stage and
the selling rate from :mod:`checkout.pipeline.observe`, as the ops dashboard does); this module
only words and draws them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

import catalog
from catalog.connections import LazyInventory, pg
from checkout.pipeline.observe import sales_curve
from flashsale.cli._output import CliError, console, emit, json_option
from flashsale.cli.common import execute, settings, tz_option, zone
from flashsale.cli.rounds import round_group

COLUMNS = [
    "round_id",
    "status",
    "stage",
    "stocked",
    "left",
    "held",
    "paid",
    "expired",
    "refund_required",
    "orders",
    "sold_out_at",
    "orders_per_minute",
    "peak_minute",
    "peak_minute_orders",
]


def headline(data: dict[str, Any]) -> str:
    """One sentence that agrees with every figure of the report."""
    left, stocked = data["left"], data["stocked"]
    sold = f"{data['sold']:,} of {stocked:,} sold ({data['paid']:,} paid, {data['held']:,} held)"
    return {
        "upcoming": f"upcoming: opens {data['starts_at']}, {stocked:,} units",
        "live": f"selling: {sold}, {left:,} left",
        "paused": f"paused: {sold}, {left:,} left",
        "sold_out": f"sold out at {data['sold_out_at']}: {sold}",
        "units_returned": (
            f"sold out at {data['sold_out_at']}, then {left:,} units came back (holds expired "
            f"or were cancelled, or stock was added); selling again: {sold}"
        ),
        "closed": f"closed: {sold}, {left:,} never sold",
    }[data["stage"]]


@round_group.command("report")
@click.argument("round_id")
@click.option(
    "--plot",
    "plot",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[PNG]",
    help="Also draw the sales curve (orders over time) to PNG "
    "(default results/round-ROUND.png; needs matplotlib: pip install 'flashsale[load]').",
)
@tz_option
@json_option
def report(round_id: str, plot: str | None, tz_name: str | None, as_json: bool) -> None:
    """Stock and order figures of a round and the stage they put it in (upcoming, live,
    paused, sold out, units returned, closed): held = reserved and awaiting payment now,
    orders = every reservation acknowledged, orders per minute = over the minutes it sold in.

    \b
    Examples:
      flashsale round report r7k2m9qa
      flashsale round report r7k2m9qa --json --tz UTC
      flashsale round report r7k2m9qa --plot            # results/round-r7k2m9qa.png
    """
    tz = zone(tz_name)

    async def go() -> tuple[dict[str, Any], list[tuple[datetime, int]]]:
        cfg = settings()
        async with pg(cfg) as conn:
            inv = LazyInventory(cfg)
            try:
                data = await catalog.round_report(conn, inv, round_id, tz)
            finally:
                await inv.aclose()
            curve = await sales_curve(conn, round_id) if plot is not None else []
            return data, curve

    data, curve = execute(go())
    png = None
    if plot is not None:
        png = draw(data, curve, Path(plot or f"results/round-{round_id}.png"), tz)
    if as_json:
        emit(data | ({"plot": str(png)} if png else {}), True)
        return
    console.print(f"round {round_id}: {headline(data)}")
    emit(
        data,
        False,
        rows=[{"field": k, "value": data.get(k)} for k in COLUMNS],
        columns=["field", "value"],
        title=f"round {round_id} ({tz.key})",
    )
    emit(
        data,
        False,
        rows=[{"channel": c, "orders": n} for c, n in data["by_channel"].items()],
        title="by channel",
    )
    if png is not None:
        console.print(f"plot: {png}")


def draw(data: dict[str, Any], curve: list[tuple[datetime, int]], out: Path, tz: Any) -> Path:
    """The sales curve: orders acknowledged so far against time, the opening and the sell-out
    marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
        from matplotlib.dates import date2num
    except ImportError:
        raise CliError(
            "--plot needs matplotlib: pip install 'flashsale[load]'", code="unavailable"
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    total = 0
    xs: list[datetime] = []
    ys: list[int] = []
    for second, n in curve:
        total += n
        xs.append(second.astimezone(tz))
        ys.append(total)
    ax.step(date2num(xs), ys, where="post", label="orders acknowledged")
    ax.axhline(data["stocked"], color="grey", linestyle=":", label=f"stocked ({data['stocked']})")
    opened = datetime.fromisoformat(data["starts_at"])
    if not xs or xs[0] >= opened:
        ax.axvline(date2num(opened), color="green", linestyle="--", label="opening")
    if data["sold_out_at"]:
        ax.axvline(
            date2num(datetime.fromisoformat(data["sold_out_at"])),
            color="red",
            linestyle="--",
            label="sold out",
        )
    ax.set_title(f"round {data['round_id']}: {data['stage'].replace('_', ' ')}")
    ax.xaxis_date(tz)
    ax.set_xlabel(f"time ({getattr(tz, 'key', tz)})")
    ax.set_ylabel("orders")
    ax.legend(loc="lower right")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
