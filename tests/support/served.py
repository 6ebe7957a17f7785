"""``flashsale serve`` as a real process for a test: started on a free port, used over HTTP,
stopped with SIGTERM, which it must survive cleanly (exit code 0)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from tests.support import FLASHSALE
from tests.support.processes import free_port, until_ping


@dataclass
class Served:
    http: httpx.AsyncClient  # on the server's base URL
    stderr: str = ""  # what the server logged, once it has stopped


@contextlib.asynccontextmanager
async def served(env: dict[str, str], *args: str, workers: int = 2) -> AsyncIterator[Served]:
    """The server (``args`` added to ``flashsale serve``) once it answers ``/api/ping``; after
    the block it is sent SIGTERM and must exit 0 (its log's tail is the failure message)."""
    port = free_port()
    argv = [FLASHSALE, "serve", "--port", str(port), "--workers", str(workers), *args]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            server = Served(http)
            await until_ping(http)
            yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    server.stderr = err.decode()
    assert proc.returncode == 0, server.stderr[-2000:]
