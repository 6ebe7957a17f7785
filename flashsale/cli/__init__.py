"""The `flashsale` command line: one group, subcommands defined in their own modules."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from flashsale import __version__
from flashsale.cli import admission, archive, report  # noqa: F401  (`round waiting-room|pow|archive|report`)
from flashsale.cli._output import Main
from flashsale.cli.catalog import catalog_group, numbers_group
from flashsale.cli.completion import completion
from flashsale.cli.demo import demo
from flashsale.cli.fulfillment import fulfill, fulfillment_group
from flashsale.cli.orders import order_group
from flashsale.cli.parked import parked_group
from flashsale.cli.pipeline import reconcile, relay, writer
from flashsale.cli.refunds import refunds_group
from flashsale.cli.rounds import round_group
from flashsale.cli.serve import serve
from flashsale.cli.stack import db, stack, topics
from flashsale.cli.sweeper import sweeper
from flashsale.cli.tokens import tokens


@click.group(
    cls=Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="flashsale")
def main() -> None:
    """flashsale — timed drops of SIM cards, plans and handsets."""


for command in (
    stack, db, topics, catalog_group, numbers_group, round_group, tokens, serve, relay, writer,
    sweeper, fulfill, fulfillment_group, reconcile, demo, order_group,
):  # fmt: skip
    main.add_command(command)
main.add_command(parked_group)
main.add_command(completion)
main.add_command(refunds_group)
# Commands other installed packages contribute (the load tools' `bench`), by entry point.
for plugin in entry_points(group="flashsale.commands"):
    main.add_command(plugin.load(), plugin.name)
