"""The `flashsale` command line: one group, subcommands defined in their own modules."""

from __future__ import annotations

import click

from flashsale import __version__

from . import admission, archive  # noqa: F401  (add `round waiting-room|pow|archive`)
from .bench import bench
from .catalog import catalog_group, numbers_group
from .demo import demo
from .fulfillment import fulfill, fulfillment_group
from .orders import order_group
from .parked import parked_group
from .pipeline import reconcile, relay, writer
from .refunds import refunds_group
from .rounds import round_group
from .serve import serve
from .stack import db, stack, topics
from .sweeper import sweeper
from .tokens import tokens


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="flashsale")
def main() -> None:
    """flashsale — timed drops of SIM cards, plans and handsets."""


for command in (
    stack, db, topics, catalog_group, numbers_group, round_group, tokens, serve, relay, writer,
    sweeper, fulfill, fulfillment_group, reconcile, demo, bench, order_group,
):  # fmt: skip
    main.add_command(command)
main.add_command(parked_group)
main.add_command(refunds_group)
