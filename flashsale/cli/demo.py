"""`flashsale demo`: a whole demo sale on the local stack."""

from __future__ import annotations

from typing import Any

import click

from flashsale.cli._output import console
from flashsale.cli.common import Field, config_options, from_options, workers_option
from flashsale.cli.stack import up
from flashsale.core.settings import Settings
from flashsale.demo.run import DemoConfig


@click.command()
@config_options(
    DemoConfig,
    Field("--cards", click.IntRange(1, 5_000_000), "Units in the round."),
    Field("--shoppers", click.IntRange(1), "Simulated shoppers (default: twice the cards)."),
)
@workers_option(DemoConfig.workers, "Front worker processes.")
@config_options(
    DemoConfig,
    Field(
        "--hold-seconds",
        click.IntRange(1),
        "Payment hold (short, so expiries show up during the demo).",
    ),
    Field("--opens-in", click.FloatRange(2, 600), "Seconds from now to the opening second."),
    Field("--concurrency", click.IntRange(1, 10_000), "Shoppers pressing buy at the same moment."),
)
@click.option("--seed", type=int, default=None, help="Repeat a crowd exactly.")
@click.pass_context
def demo(ctx: click.Context, workers: int, seed: int | None, **options: Any) -> None:
    """Run a whole sale: bring the stack up, create the catalog and a round with the marketer
    CLI, start the front, relay, writer, sweeper and fulfillment, release a crowd at the
    opening second, watch it live and print a closing report. Ctrl-C stops everything.

    \b
    Examples:
      flashsale demo                       # 100,000 cards, 200,000 shoppers
      flashsale demo --cards 5000 --opens-in 5
    """
    from flashsale.demo import run_demo

    ctx.invoke(up, no_init=False, as_json=False)
    config = from_options(DemoConfig, options, workers=workers)
    if seed is not None:
        config.seed = seed
    result = run_demo(Settings.from_env(), config, console)
    if result["oversold"] or not result["reconcile"]["ok"]:
        raise SystemExit(1)
