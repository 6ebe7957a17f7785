"""How every CLI command prints: a rich table by default, JSON with ``--json``, one-line errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console
from rich.table import Table

T = TypeVar("T")
console = Console()
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


class CliError(click.ClickException):
    """A refusal with a one-line reason, a stable ``code`` (for ``--json``) and exit code 1."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


def error_json(code: str, message: str) -> str:
    """The API's error shape, for ``--json`` refusals."""
    return orjson.dumps({"error": {"code": code, "message": message}}).decode()


def _code(exc: click.ClickException) -> str:
    if isinstance(exc, CliError):
        return exc.code
    return "usage" if isinstance(exc, click.UsageError) else "error"


class Main(click.Group):
    """The top group: with ``--json`` anywhere on the command line, a refusal (or a usage
    error) is ``{"error": {"code", "message"}}`` on stdout instead of a line on stderr; the
    exit code is the same non-zero one either way."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        options = argv[: argv.index("--")] if "--" in argv else argv
        if "--json" not in options or not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            click.echo(error_json(_code(exc), exc.format_message()))
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(error_json("aborted", "aborted"))
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def print_json(data: object) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def _wide(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta[_WIDE] = value


_WIDE = "flashsale.wide"
wide_option = click.option(
    "--wide",
    is_flag=True,
    expose_value=False,
    callback=_wide,
    help="Every column, however wide (the table may be wider than the terminal).",
)


def _whole(column: str) -> bool:
    """Ids and times: never cut, never wrapped."""
    return column == "id" or column.endswith(("_id", "_at", "_no")) or column in ("minute", "at")


def _need(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> int:
    """The width of the table with every id and time whole and other columns at least 8 wide."""
    total = 1
    for c in columns:
        longest = max([len(c), *(len(_cell(r.get(c))) for r in rows)])
        total += 3 + (longest if _whole(c) else min(longest, 8))
    return total


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def print_table(
    rows: Sequence[Mapping[str, object]],
    columns: Iterable[str] | None = None,
    title: str | None = None,
    optional: Sequence[str] = (),
) -> None:
    """A table whose ids and times are never cut: on a terminal too narrow, the ``optional``
    columns go first (last named first), then other text wraps; ``--wide`` keeps every
    column. Piped, the table takes its natural width (nothing wraps)."""
    columns = list(columns or (rows[0].keys() if rows else []))
    ctx = click.get_current_context(silent=True)
    wide = bool(ctx and ctx.meta.get(_WIDE))
    width: int | None = console.width if console.is_terminal else None
    if width is not None and not wide:
        for column in reversed(optional):
            if _need(rows, columns) <= width:
                break
            if column in columns:
                columns.remove(column)
    if width is None or wide:
        width = max(console.width, _natural(rows, columns))
    else:
        width = max(width, _need(rows, columns))
    table = Table(title=title)
    for column in columns:
        whole = _whole(column)
        table.add_column(column.replace("_", " "), no_wrap=whole, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    (console if width <= console.width else Console(width=width)).print(table)


def _natural(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> int:
    return 1 + sum(3 + max([len(c), *(len(_cell(r.get(c))) for r in rows)]) for c in columns)


def emit(
    data: object,
    as_json: bool,
    rows: Sequence[Mapping[str, object]] | None = None,
    columns: Iterable[str] | None = None,
    title: str | None = None,
    optional: Sequence[str] = (),
) -> None:
    """Print ``data`` as JSON, or ``rows`` (default: ``data`` itself) as a table."""
    if as_json:
        print_json(data)
        return
    if rows is None:
        rows = data if isinstance(data, list) else [data]  # type: ignore[list-item]
    print_table(rows, columns, title, optional)


def emit_fields(
    data: Mapping[str, object],
    as_json: bool,
    headline: str | None = None,
    title: str | None = None,
) -> None:
    """Print one record: JSON, or ``headline`` (if any) then a field/value table."""
    if headline is not None and not as_json:
        console.print(headline)
    emit(
        data,
        as_json,
        rows=[{"field": k, "value": v} for k, v in data.items()],
        columns=["field", "value"],
        title=title,
    )


def emit_change(
    data: Mapping[str, object], as_json: bool, subject: str, done: str, unchanged: str
) -> None:
    """The answer of an operator's idempotent change to one record: ``subject: done``, or
    ``subject: unchanged`` when ``data["changed"]`` says a first call had made it, then the
    record (:func:`emit_fields`)."""
    emit_fields(data, as_json, f"{subject}: {done if data['changed'] else unchanged}")
