"""The `flashsale` command line: one group, subcommands registered from their own modules."""

from __future__ import annotations

import click

from flashsale import __version__

from .bench import bench
from .demo import demo
from .fulfillment import fulfill, fulfillment_group
from .serve import serve
from .stack import db, stack, topics
from .sweeper import sweeper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="flashsale")
def main() -> None:
    """flashsale — timed drops of SIM cards, plans and handsets."""


for command in (stack, db, topics, demo, serve, sweeper, bench, fulfill, fulfillment_group):
    main.add_command(command)
main.add_command(__import__("flashsale.cli.tokens", fromlist=["tokens"]).tokens)  # tokens group
__import__("flashsale.cli.rounds")  # registers the catalog, numbers and round groups
__import__("flashsale.cli.admission")  # round waiting-room, round pow
from . import pipeline  # noqa: E402, F401  (registers relay, writer, reconcile)
