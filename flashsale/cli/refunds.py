"""`flashsale refunds list|settle`: payments that are not kept and must go back (operators).

A late payment with no units left, a second payment of a paid order and a payment of another
amount than the order's due each become a ``refunds`` row (``checkout/refunds.py``), state
``required``. Once the provider has paid the money back, an operator marks it ``refunded``
(operator credential; audited).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from checkout import refunds
from flashsale.cli._output import emit, emit_change, json_option, run
from flashsale.cli.clients import pg_pool, run_refusable
from flashsale.cli.common import operator, settings, token_file_option

_COLUMNS = ["payment_id", "order_id", "amount_fen", "reason", "state", "required_at"]


@click.group("refunds")
def refunds_group() -> None:
    """Payments recorded for refund (late, duplicate, wrong amount)."""


@refunds_group.command("list")
@click.option("--state", type=click.Choice(refunds.STATES), default=None, help="Only this state.")
@click.option("--round", "round_id", default=None, help="Only this round.")
@json_option
def list_(state: str | None, round_id: str | None, as_json: bool) -> None:
    """List refunds, oldest first.

    \b
    Examples:
      flashsale refunds list --state required
      flashsale refunds list --round r7x2k9ab --json
    """

    async def main() -> list[dict[str, Any]]:
        async with pg_pool(settings()) as pool:
            return await refunds.list_refunds(pool, state=state, round_id=round_id)

    rows = run(main())
    emit(rows, as_json, columns=_COLUMNS, title=f"{len(rows)} refund(s)")


@refunds_group.command("settle")
@click.argument("payment_id")
@token_file_option
@json_option
def settle(payment_id: str, token_file: Path | None, as_json: bool) -> None:
    """Mark the refund of PAYMENT_ID refunded (operator credential; audited).

    \b
    Examples:
      FLASHSALE_ADMIN_TOKEN=... flashsale refunds settle pay_0123abcd
    """
    op = operator(token_file)

    out = run_refusable(
        settings(), lambda pool: refunds.settle(pool, payment_id, op), refunds.RefundNotFound
    )
    emit_change(out, as_json, f"payment {payment_id}", "marked refunded", "already refunded")
