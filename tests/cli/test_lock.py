"""Reproducible installs (issue 17): requirements.lock pins every dependency of flashsale[dev]
(exact versions, transitive ones included) and `make install` installs with it."""

from __future__ import annotations

import re
import tomllib

from tests.support import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)$")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_and_make_uses_the_lock() -> None:
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pins = {}
    for line in lines:
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        pins[match[1].lower().replace("_", "-")] = match[2]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    missing = sorted({_name(r) for r in wanted} - set(pins))
    assert missing == [], f"run `make lock`: {missing} not in requirements.lock"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install -q -c \$\(LOCK\) -e '\.\[dev\]'", makefile)
    assert "LOCK := requirements.lock" in makefile
    assert re.search(r"^lock:", makefile, re.M)
