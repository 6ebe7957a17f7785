"""Helpers for the CLI tests: ``flashsale …`` as a subprocess, or typed as one line (with or
without the operator credential), its one-line refusals, row counts of the catalog tables,
phone numbers, a round created from an offer, a process left running, an operator's
environment and an audited command that changes something once."""

from __future__ import annotations

import asyncio
import random
import shlex
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from flashsale.core.audit import TOKEN_ENV, Operator, configured_token
from flashsale.core.settings import Settings
from tests.support import FLASHSALE

OP = Operator(actor="test")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        assert self.code == 0, self.err
        return orjson.loads(self.out)


async def flashsale(
    env: dict[str, str], *args: str, admin: bool = True, token: str | None = None, **extra: str
) -> Result:
    run_env = {**env, **extra}
    run_env.pop(TOKEN_ENV, None)
    if admin:
        run_env[TOKEN_ENV] = configured_token(env).reveal()
    if token is not None:
        run_env[TOKEN_ENV] = token
    proc = await asyncio.create_subprocess_exec(
        FLASHSALE,
        *args,
        env=run_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def typed(env: dict[str, str], command: str, **kwargs: Any) -> Result:
    """``flashsale COMMAND`` as a person types it in a shell (split by shell rules)."""
    return await flashsale(env, *shlex.split(command), **kwargs)


def refused(result: Result, *words: str) -> None:
    assert result.code != 0, result.out
    lines = [line for line in result.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.err  # a one-line reason
    for word in words:
        assert word in lines[0], lines[0]


_COUNTS = """SELECT (SELECT count(*) FROM products) AS products,
    (SELECT count(*) FROM offers) AS offers, (SELECT count(*) FROM variants) AS variants,
    (SELECT count(*) FROM number_pools) AS number_pools,
    (SELECT count(*) FROM pool_numbers) AS pool_numbers,
    (SELECT count(*) FROM audit_log) AS audit_log"""


async def counts(pg_pool: asyncpg.Pool) -> dict[str, int]:
    """Rows of the catalog's tables and of the audit log, by table."""
    async with pg_pool.acquire() as conn:
        return dict(await conn.fetchrow(_COUNTS))


def numbers(n: int) -> list[str]:
    rng = random.Random()
    return [f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" for _ in range(n)]


async def create(env: dict[str, str], offer: dict[str, Any], *extra: str) -> dict[str, Any]:
    """``round create`` as a script runs it: ``--yes`` (no question about far-off starts)."""
    result = await flashsale(
        env, "round", "create", "--offer", str(offer["id"]), *extra, "--yes", "--json"
    )
    data: dict[str, Any] = result.json()  # type: ignore[assignment]
    return data


async def cli(env: dict[str, str], *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        FLASHSALE,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), 60)
    return proc.returncode or 0, out.decode(errors="replace")


async def spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """``flashsale *args`` started and left running (stdout and stderr in one pipe)."""
    return await asyncio.create_subprocess_exec(
        FLASHSALE, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )


def operator_env(env: dict[str, str], settings: Settings, operator: str) -> dict[str, str]:
    """``env`` with the operator credential (the admin token of ``settings``) and the
    operator's name, as the audit log records it."""
    return {**env, TOKEN_ENV: settings.admin_token.reveal(), "FLASHSALE_OPERATOR": operator}


async def changes_once(env: dict[str, str], *args: str) -> None:
    """``flashsale *args --json`` of an audited command, twice: the first run changes
    something, the repeat is a no-op."""
    rc, out = await cli(env, *args, "--json")
    assert rc == 0, out
    assert orjson.loads(out)["changed"] is True
    rc, out = await cli(env, *args, "--json")
    assert rc == 0, out
    assert orjson.loads(out)["changed"] is False
