"""`flashsale serve --server uvicorn|granian`: the same app, lifespan and metrics on both, with
one worker too (uvicorn then runs in the CLI's own process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from flashsale.core.settings import Settings


def _other_db(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/15"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_one_worker_serves_the_front_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path, server: str
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        # an empty Redis database: the lifespan reads every armed round before the first
        # request, and the session's database holds thousands (this test needs none)
        "FLASHSALE_REDIS_URL": _other_db(settings.redis_url),
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    flashsale = str(Path(sys.executable).with_name("flashsale"))
    argv = [flashsale, "serve", "--server", server, "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ping = httpx.get(f"{url}/api/ping", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, f"{server} exited"
                assert time.monotonic() < deadline, f"{server} did not start"
                time.sleep(0.2)
        assert (ping.status_code, ping.json()) == (200, {"ok": True})
        assert ping.headers["x-request-id"]
        rounds = httpx.get(f"{url}/api/rounds", timeout=5)  # served by the lifespan's cache
        assert rounds.status_code == 200
        assert "rounds" in rounds.json()
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert 'flashsale_http_requests_total{method="GET",route="/api/ping",status="200"}' in (
            metrics
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn in the CLI's own process re-raises the SIGTERM it handled, once shut down
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]
    assert proc.returncode == 0 or b"Application shutdown complete" in err
