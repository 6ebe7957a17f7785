"""Fixtures of the load-tool tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, until_ping

BIN = Path(sys.executable).parent


@pytest.fixture
async def served(env: dict[str, str], tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], str]]:
    """A `flashsale serve` on a free port and the environment a person's shell would have:
    .venv/bin on PATH, Locust pointed at that server (as LOCUST_HOST) for a short run."""
    port = free_port()
    shell = {
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "FLASHSALE_DATA_DIR": str(tmp_path / "data"),
        "LOCUST_HOST": f"http://127.0.0.1:{port}",
        "LOCUST_RUN_TIME": "15s",
        "LOCUST_CSV": str(tmp_path / "locust"),
    }
    server = subprocess.Popen(
        [str(BIN / "flashsale"), "serve", "--port", str(port)],
        env=shell,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=shell["LOCUST_HOST"]) as http:
            await until_ping(http, 300, server)
        yield shell, shell["LOCUST_HOST"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
