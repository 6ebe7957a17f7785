"""CPU seconds per process of the demo's sale, from /proc (Linux): every process the demo
started (with the workers they fork), the services behind the URLs (the process listening on
each port) and the demo itself (the crowd and the watcher). A process's figure is its own
time plus its live descendants' plus the children it has waited for (PostgreSQL's backends
that have exited), user + system."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces
    return text[text.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree[int(fields[1])].append(int(entry.name))  # field 4: ppid
    return tree


def _seconds(fields: list[str]) -> float:
    # fields 14-17 of stat: utime, stime, cutime, cstime (after the name, index 11-14)
    return sum(int(v) for v in fields[11:15]) / _TICK


def own_seconds() -> float:
    """CPU seconds of this process alone (all its threads, not its children)."""
    t = os.times()
    return t.user + t.system


def tree_seconds(pids: Mapping[str, int | None]) -> dict[str, float | None]:
    """CPU seconds of each named process tree so far (None when the process is unknown)."""
    tree = _children()
    out: dict[str, float | None] = {}
    for name, root in pids.items():
        if root is None or _stat(root) is None:
            out[name] = None
            continue
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if (fields := _stat(pid)) is not None:
                total += _seconds(fields)
                todo += tree.get(pid, [])
        out[name] = total
    return out


def listening(ports: Iterable[int]) -> dict[int, int | None]:
    """The pid listening on each TCP port of this host (None if not found or not visible)."""
    wanted = set(ports)
    inodes: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if cols[3] == "0A" and port in wanted:  # 0A: LISTEN
                inodes[f"socket:[{cols[9]}]"] = port
    found: dict[int, int | None] = dict.fromkeys(wanted)
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or not inodes:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                held = inodes.get(os.readlink(fd))
            except OSError:
                continue
            if held is not None and found[held] is None:
                found[held] = int(entry.name)
    return found


def per_order_ms(
    before: Mapping[str, float | None], after: Mapping[str, float | None], orders: int
) -> dict[str, float | None]:
    """Milliseconds of CPU per order of each process between two readings."""
    out: dict[str, float | None] = {}
    for name, end in after.items():
        start = before.get(name)
        out[name] = (
            None
            if start is None or end is None or not orders
            else round((end - start) * 1000 / orders, 3)
        )
    return out
