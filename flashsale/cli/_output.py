"""How every CLI command prints: a rich table by default, JSON with ``--json``, one-line errors."""

from __future__ import annotations

import asyncio
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


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def print_json(data: object) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def print_table(
    rows: Sequence[Mapping[str, object]],
    columns: Iterable[str] | None = None,
    title: str | None = None,
) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title)
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def emit(
    data: object,
    as_json: bool,
    rows: Sequence[Mapping[str, object]] | None = None,
    columns: Iterable[str] | None = None,
    title: str | None = None,
) -> None:
    """Print ``data`` as JSON, or ``rows`` (default: ``data`` itself) as a table."""
    if as_json:
        print_json(data)
        return
    if rows is None:
        rows = data if isinstance(data, list) else [data]  # type: ignore[list-item]
    print_table(rows, columns, title)


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
