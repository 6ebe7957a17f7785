"""Child processes the stack starts: pid files that survive pid reuse, start, stop, wait."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_children: list[subprocess.Popen[bytes]] = []


class StackError(Exception):
    """A service could not be installed, started, reached or stopped."""


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are split on the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is as good as gone
        return None
    return fields[19]


@dataclass(frozen=True)
class PidFile:
    """``pid starttime`` of a process we started; the start time guards against pid reuse."""

    path: Path

    def write(self, pid: int) -> None:
        started = _start_time(pid)
        if started is None:
            raise StackError(f"process {pid} exited right after starting")
        self.path.write_text(f"{pid} {started}\n")

    def alive_pid(self) -> int | None:
        try:
            pid_text, started = self.path.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _start_time(pid) == started else None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def spawn(
    argv: Sequence[str],
    log: Path,
    pidfile: PidFile,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached from our session, output appended to ``log``; record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    _children.append(proc)  # keep the handle: a dropped Popen of a live child warns
    pidfile.write(proc.pid)
    return proc.pid


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
    started = _start_time(pid)
    if started is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _start_time(pid) != started:
            _reap(pid)
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    while _start_time(pid) == started:
        time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    for proc in [p for p in _children if p.pid == pid]:
        # A JVM's main thread can be a zombie while its other threads still run down: wait
        # (bounded) for the whole process before letting go of the handle.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
            _children.remove(proc)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@atexit.register
def _detach_daemons() -> None:
    """Services we started are meant to outlive this process: don't warn about them at exit."""
    for proc in _children:
        if proc.poll() is None:
            proc.returncode = 0


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    limit: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> float:
    """Poll ``check`` until it is true; return the seconds it took or raise after ``limit`` s."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if alive is not None and not alive():
            raise StackError(f"{what} exited while starting{_log_hint(log)}")
        if time.monotonic() - start > limit:
            raise StackError(f"{what} not ready after {limit:.0f}s{_log_hint(log)}")
        await asyncio.sleep(0.25)


def _log_hint(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-5:]
    return f"; see {log}:\n" + "\n".join(tail)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
