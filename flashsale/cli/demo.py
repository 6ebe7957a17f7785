"""`flashsale demo`: a whole demo sale on the local stack."""

from __future__ import annotations

import click

from flashsale.cli._output import console
from flashsale.cli.common import opt, workers_option
from flashsale.cli.stack import up
from flashsale.core.settings import Settings


@click.command()
@opt(
    "--cards",
    default=100_000,
    kind=click.IntRange(1, 5_000_000),
    help="Units in the round.",
)
@click.option(
    "--shoppers",
    type=click.IntRange(1),
    default=None,
    help="Simulated shoppers (default: twice the cards).",
)
@workers_option(2, "Front worker processes.")
@opt(
    "--hold-seconds",
    default=20,
    kind=click.IntRange(1),
    help="Payment hold (short, so expiries show up during the demo).",
)
@opt(
    "--opens-in",
    default=8.0,
    kind=click.FloatRange(2, 600),
    help="Seconds from now to the opening second.",
)
@opt(
    "--concurrency",
    default=512,
    kind=click.IntRange(1, 10_000),
    help="Shoppers pressing buy at the same moment.",
)
@click.option("--seed", type=int, default=None, help="Repeat a crowd exactly.")
@click.pass_context
def demo(
    ctx: click.Context,
    cards: int,
    shoppers: int | None,
    workers: int,
    hold_seconds: int,
    opens_in: float,
    concurrency: int,
    seed: int | None,
) -> None:
    """Run a whole sale: bring the stack up, create the catalog and a round with the marketer
    CLI, start the front, relay, writer, sweeper and fulfillment, release a crowd at the
    opening second, watch it live and print a closing report. Ctrl-C stops everything.

    \b
    Examples:
      flashsale demo                       # 100,000 cards, 200,000 shoppers
      flashsale demo --cards 5000 --opens-in 5
    """
    from flashsale.demo import DemoConfig, run_demo

    ctx.invoke(up, no_init=False, as_json=False)
    config = DemoConfig(
        cards=cards,
        shoppers=shoppers,
        workers=workers,
        hold_seconds=hold_seconds,
        opens_in=opens_in,
        concurrency=concurrency,
    )
    if seed is not None:
        config.seed = seed
    result = run_demo(Settings.from_env(), config, console)
    if result["oversold"] or not result["reconcile"]["ok"]:
        raise SystemExit(1)
