"""What the commands share: the option helper and the shared options (``--token-file``,
``--tz``, ``--workers``, ``--group``), the settings, the operator credential, the display zone,
and running a domain call so that its refusal is a one-line :class:`CliError`.

Public (the load tools' ``bench`` command builds its options with :func:`opt` too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import click

import catalog
from catalog import times
from flashsale.cli._output import CliError, run
from flashsale.core.audit import AdminAuthError, Operator, cli_operator
from flashsale.core.settings import Settings, SettingsError

T = TypeVar("T")
C = TypeVar("C")
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def opt(*decls: str, default: Any, kind: Any = None, help: str, **extra: Any) -> Decorator:
    """A click option whose default is shown in ``--help`` (every option with a default is)."""
    return click.option(*decls, default=default, type=kind, show_default=True, help=help, **extra)


class Field(NamedTuple):
    """An option that sets one field of a config dataclass (see :func:`config_options`)."""

    flag: str
    kind: Any
    help: str
    name: str = ""  # the field; by default the flag's words (``--max-attempts``: max_attempts)


def config_options(
    config: type[Any], *rows: Field, prefix: str = "", env: bool = False
) -> Decorator:
    """One option a row, each setting a field of the dataclass ``config`` and defaulting to that
    field's default, so a default is written once, in the config; :func:`from_options` builds the
    config from them. ``prefix`` starts each parameter's name (two configs in one command);
    ``env`` reads each option from ``FLASHSALE_<FLAG>`` too."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for row in reversed(rows):
            name = row.name or row.flag.removeprefix("--").replace("-", "_")
            extra: dict[str, Any] = {}
            if env:
                var = "FLASHSALE_" + row.flag.removeprefix("--").upper().replace("-", "_")
                extra = {"envvar": var, "show_envvar": True}
            option = opt(
                row.flag,
                prefix + name,
                default=defaults[name],
                kind=row.kind,
                help=row.help,
                **extra,
            )
            f = option(f)
        return f

    return apply


def from_options(config: type[C], options: Mapping[str, Any], prefix: str = "", **more: Any) -> C:
    """``config`` with the fields :func:`config_options` declared options for (found among the
    command's ``options`` under ``prefix``), and ``more``."""
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    picked = {k.removeprefix(prefix): v for k, v in options.items() if k.startswith(prefix)}
    return config(**{k: v for k, v in picked.items() if k in names}, **more)


#: A file the command reads: it must exist and not be a folder.
INPUT_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def input_file_option(flag: str, help: str) -> Decorator:
    """An optional :data:`INPUT_FILE` (``None`` when not given)."""
    return click.option(flag, type=INPUT_FILE, default=None, help=help)


token_file_option = click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File holding the operator credential (default: $FLASHSALE_ADMIN_TOKEN).",
)
tz_option = click.option(
    "--tz",
    "tz_name",
    default=None,
    metavar="ZONE",
    help="IANA zone for times shown and for times typed without an offset "
    "(default $FLASHSALE_TZ or Asia/Shanghai).",
)


def workers_option(default: int, help: str) -> Decorator:
    """``--workers``: front worker processes (serve, demo, bench)."""
    return opt("--workers", "-w", default=default, kind=click.IntRange(1, 64), help=help)


def seconds_option(flag: str, default: float, help: str, *, most: float | None = None) -> Decorator:
    """A duration in seconds: at least 0, at most ``most`` when given."""
    return opt(flag, default=default, kind=click.FloatRange(0, most), help=help)


def group_option(role: str, help: str) -> Decorator:
    """``--group``: a Kafka consumer group; unset, the deployment's own ``<topic prefix>-<role>``
    (:func:`flashsale.core.kafka.writer_group`), so deployments on one broker never share one."""
    return click.option(
        "--group", default=None, metavar="GROUP", help=f"{help} [default: <topic prefix>-{role}]"
    )


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def operator(token_file: Path | None) -> Operator:
    """The authenticated operator, or a refusal before anything is touched."""
    try:
        return cli_operator(token_file)
    except AdminAuthError as exc:
        raise CliError(f"refused: {exc}", code="unauthorized") from None


def zone(name: str | None) -> ZoneInfo:
    try:
        return times.zone(name)
    except catalog.CatalogError as exc:
        raise CliError(exc.message, code=exc.code) from None


def execute(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; a catalog error or an unreachable service becomes a one-line refusal."""
    try:
        return run(coro)
    except catalog.CatalogError as exc:
        raise CliError(exc.message, code=exc.code) from None
    except ConnectionError as exc:
        raise CliError(str(exc), code="unavailable") from None
    except asyncpg.PostgresError as exc:
        # A value PostgreSQL refuses (data exception, constraint): the transaction rolled back,
        # so nothing is stored; say so in one line. Other classes (outages) stay errors.
        state = getattr(exc, "sqlstate", "") or ""
        if state[:2] not in ("22", "23"):
            raise
        raise CliError(
            f"refused by PostgreSQL: {type(exc).__name__} (SQLSTATE {state})", code="invalid"
        ) from None


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file (a leading byte-order mark dropped), or a one-line refusal."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}") from None


def localize(value: Any, tz: ZoneInfo) -> Any:
    """Every datetime in ``value`` as ISO 8601 in ``tz``, to the second."""
    if isinstance(value, datetime):
        return times.show(value, tz)
    if isinstance(value, Mapping):
        return {k: localize(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [localize(v, tz) for v in value]
    return value
