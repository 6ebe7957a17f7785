"""The machine's processes as /proc shows them (for tests of the stack and its faults)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple


class Proc(NamedTuple):
    pid: int
    ppid: int
    cmdline: str  # arguments joined by spaces


def processes() -> Iterator[Proc]:
    """The live processes (zombies left out); one that exits while it is read is skipped."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z":
            cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
            yield Proc(int(entry.name), int(ppid), cmdline)
