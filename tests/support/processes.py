"""Helpers for tests that run ``flashsale`` processes: a free loopback port, waiting until a
``flashsale serve`` answers ``/api/ping``, stopping a process with a signal."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bindable(port: int) -> bool:
    """True when ``port`` on loopback is free now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def until_ping(
    http: httpx.AsyncClient, tries: int = 100, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``/api/ping`` every 0.1 s until it answers 200 (``tries`` times at most); with
    ``proc``, fail as soon as that server process has exited."""
    for _ in range(tries):
        if proc is not None:
            assert proc.poll() is None, "flashsale serve exited early"
        try:
            if (await http.get("/api/ping")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("flashsale serve did not answer /api/ping")


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Send ``sig`` (unless it already exited); its exit code and output."""
    if proc.returncode is None:
        proc.send_signal(sig)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(errors="replace")
