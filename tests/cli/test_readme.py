"""The READMEs' commands as typed (issue 17): every `flashsale …` in a shell block of README.md
and loadtests/README.md names a real command and only options it has, and no block leans on an
id an earlier run happened to produce (`--product 1`, `# -> id 1`)."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from flashsale.cli import main
from tests.support import ROOT

READMES = [ROOT / "README.md", ROOT / "loadtests" / "README.md"]


def shell_lines(text: str) -> list[str]:
    """The lines of the ```sh blocks, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                lines.append(line)
    return lines


def flashsale_calls(line: str) -> list[list[str]]:
    """Each `flashsale …` invocation on the line (also inside $( ) and after ; | &&)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    calls: list[list[str]] = []
    current: list[str] | None = None
    for token in lexer:
        if token in ("flashsale", ".venv/bin/flashsale", "$(flashsale"):
            current = []
            calls.append(current)
        elif current is not None and token.strip("();|&<>") == "":
            current = None
        elif current is not None:
            current.append(token)
    return calls


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = main
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"no command {rest[0]!r} in `flashsale {' '.join(words)}`"
        command, rest = sub, rest[1:]
    return command, rest


CALLS = [
    (str(path.relative_to(ROOT)), shlex.join(call))
    for path in READMES
    for line in shell_lines(path.read_text(encoding="utf-8"))
    for call in flashsale_calls(line)
]


def test_the_readmes_have_commands() -> None:
    assert len(CALLS) > 30


@pytest.mark.parametrize(("readme", "call"), CALLS)
def test_command_and_options_exist(readme: str, call: str) -> None:
    command, rest = resolve(shlex.split(call))
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    known |= {"-h", "--help"}
    for word in rest:
        if word.startswith("-") and not re.fullmatch(r"-?\d+[smhd]?", word):
            assert word.split("=", 1)[0] in known, f"{readme}: `flashsale {call}`: no {word}"


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.parent.name)
def test_no_ids_from_an_earlier_run(path: object) -> None:
    text = "\n".join(shell_lines(path.read_text(encoding="utf-8")))  # type: ignore[attr-defined]
    assert not re.search(r"--(product|offer) \d", text)
    assert "-> id" not in text
    assert not re.search(r"round (show|report|pause|close|restock|arm) [a-z]", text)
