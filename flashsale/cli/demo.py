"""`flashsale demo`: a whole demo sale on the local stack."""

from __future__ import annotations

import click

from .stack import up


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Bring the stack up and run a demo sale (for now: stack up and status)."""
    ctx.invoke(up, no_init=False, as_json=False)
