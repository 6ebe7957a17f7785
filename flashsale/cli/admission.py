"""`flashsale round waiting-room|pow`: a round's admission options (admin credential, audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from catalog.connections import pg
from flashsale.cli._output import CliError, emit, json_option
from flashsale.cli.common import execute, operator, settings, token_file_option
from flashsale.cli.rounds import round_group
from flashsale.core.redis import redis_client
from flashsale.front.admission.control import configure
from flashsale.front.admission.pow import MAX_BITS


def _apply(round_id: str, token_file: Path | None, as_json: bool, **change: Any) -> None:
    op, cfg = operator(token_file), settings()

    async def go() -> dict[str, Any]:
        redis = redis_client(cfg.redis_url)
        try:
            async with pg(cfg) as conn:
                return await configure(conn, redis, op, round_id, **change)
        finally:
            await redis.aclose()

    result = execute(go())
    emit(
        result,
        as_json,
        rows=[{"option": k, "value": result[k]} for k in ("waiting_room", "rate", "pow_bits")],
        columns=["option", "value"],
        title=f"round {round_id} admission",
    )


@round_group.command("waiting-room")
@click.argument("round_id")
@click.option("--rate", type=click.IntRange(min=1), default=None, help="Admissions per second.")
@click.option("--off", is_flag=True, help="Turn the waiting room off.")
@token_file_option
@json_option
def waiting_room(
    round_id: str, rate: int | None, off: bool, token_file: Path | None, as_json: bool
) -> None:
    """Hold shoppers in a waiting room: early arrivals are shuffled at the start, then admitted
    at --rate per second with a signed admission token the buy request must carry.

    \b
    Examples:
      flashsale round waiting-room r7k2m9qa --rate 500
      flashsale round waiting-room r7k2m9qa --off
    """
    if not off and rate is None:
        raise CliError("give --rate N (admissions per second) or --off")
    _apply(round_id, token_file, as_json, room=not off, rate=rate)


@round_group.command("pow")
@click.argument("round_id")
@click.option("--bits", type=click.IntRange(1, MAX_BITS), default=None, help="Difficulty.")
@click.option("--off", is_flag=True, help="No proof of work.")
@token_file_option
@json_option
def pow_(
    round_id: str, bits: int | None, off: bool, token_file: Path | None, as_json: bool
) -> None:
    """Ask every buy request for a proof of work of --bits leading zero bits (see
    docs/admission.md: 16-20 bits take a browser well under a second).

    \b
    Examples:
      flashsale round pow r7k2m9qa --bits 18
      flashsale round pow r7k2m9qa --off
    """
    if not off and bits is None:
        raise CliError("give --bits N or --off")
    _apply(round_id, token_file, as_json, pow_bits=0 if off else bits)
