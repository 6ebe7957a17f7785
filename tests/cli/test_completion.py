"""Shell completion (issue 17): `flashsale completion SHELL` prints click's script, and the
script's protocol completes commands, subcommands and option choices."""

from __future__ import annotations

import os
import subprocess

import pytest
from click.testing import CliRunner

from flashsale.cli import main
from tests.support import FLASHSALE


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert "_FLASHSALE_COMPLETE" in result.output
    assert f"{shell}_complete" in result.output


def complete(words: str) -> list[str]:
    """What the bash script asks the CLI for while ``words`` are typed."""
    env = {
        **os.environ,
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),  # a trailing space starts a new word
        "_FLASHSALE_COMPLETE": "bash_complete",
    }
    out = subprocess.run([FLASHSALE], env=env, capture_output=True, check=True, timeout=30)
    return [line.split(",", 1)[1] for line in out.stdout.decode().splitlines()]


def test_completes_commands_and_choices() -> None:
    assert complete("flashsale rou") == ["round"]
    assert {"create", "edit", "report"} <= set(complete("flashsale round "))
    assert complete("flashsale catalog retire o") == ["offer"]
    assert complete("flashsale round list --status sold") == ["sold_out"]
