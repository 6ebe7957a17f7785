"""Duration options (``seconds_option``): seconds, never negative, bounded where the command
says so, with the default shown in ``--help``."""

from __future__ import annotations

from typing import Any

import click
import pytest

from flashsale.cli.archive import archive
from flashsale.cli.pipeline import reconcile


def _parse(command: click.Command, *args: str) -> dict[str, Any]:
    return command.make_context(command.name or "", list(args)).params


def test_defaults() -> None:
    params = _parse(archive, "r1")
    assert (params["grace"], params["settle"]) == (0.0, 2.0)
    assert _parse(reconcile, "r1")["wait"] == 20.0


@pytest.mark.parametrize(
    ("command", "flag", "most"),
    [(archive, "--grace", None), (archive, "--settle", 300.0), (reconcile, "--wait", 600.0)],
)
def test_bounds(command: click.Command, flag: str, most: float | None) -> None:
    name = flag.removeprefix("--")
    assert _parse(command, "r1", flag, "0")[name] == 0.0
    assert _parse(command, "r1", flag, "1.5")[name] == 1.5
    with pytest.raises(click.BadParameter):
        _parse(command, "r1", flag, "-0.1")
    if most is None:
        assert _parse(command, "r1", flag, "86400")[name] == 86400.0
    else:
        assert _parse(command, "r1", flag, str(most))[name] == most
        with pytest.raises(click.BadParameter):
            _parse(command, "r1", flag, str(most + 0.5))


@pytest.mark.parametrize(("command", "shown"), [(archive, "default: 2.0"), (reconcile, "20.0")])
def test_default_is_shown_in_help(command: click.Command, shown: str) -> None:
    with click.Context(command) as ctx:
        assert shown in command.get_help(ctx)
