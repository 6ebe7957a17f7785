"""`flashsale serve --server uvicorn|granian`: the same app, lifespan and metrics on both, with
one worker too (uvicorn then runs in the CLI's own process); with several, workers whose server
process is killed stop instead of serving its port on their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flashsale.core.settings import Settings
from tests.support.processes import free_port
from tests.support.services import with_path
from tests.support.stack import processes


def _serve(
    settings: Settings, tmp_path: Path, server: str, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `flashsale serve`; returns the process and its URL once it answers /api/ping."""
    port = free_port()
    env = {
        **os.environ,
        # an empty Redis database: the lifespan reads every armed round before the first
        # request, and the session's database holds thousands (this test needs none)
        "FLASHSALE_REDIS_URL": with_path(settings.redis_url, "/15"),
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    flashsale = str(Path(sys.executable).with_name("flashsale"))
    argv = [flashsale, "serve", "--server", server, "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/api/ping", timeout=2)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate(timeout=30)
                raise AssertionError(f"{server} did not start: {err.decode()[-2000:]}") from None
            time.sleep(0.2)


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_one_worker_serves_the_front_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path, server: str
) -> None:
    proc, url = _serve(settings, tmp_path, server, workers=1)
    try:
        ping = httpx.get(f"{url}/api/ping", timeout=2)
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


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_workers_stop_when_their_server_process_is_killed(
    settings: Settings, tmp_path: Path, server: str
) -> None:
    proc, url = _serve(settings, tmp_path, server, workers=2)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:  # both workers up
            time.sleep(0.2)
            workers = [
                p.pid
                for p in processes()
                if p.ppid == proc.pid and "resource_tracker" not in p.cmdline
            ]
        assert len(workers) == 2, workers
    finally:
        proc.kill()  # SIGKILL: the server process cannot stop its workers itself
        proc.wait(timeout=30)  # (its workers still hold the stderr pipe: no communicate)
    deadline = time.monotonic() + 20
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p.pid for p in processes() if p.pid in workers]  # zombies left out
    for pid in alive:  # leave nothing behind, then fail
        os.kill(pid, signal.SIGKILL)
    assert proc.stderr is not None
    proc.stderr.close()
    assert not alive, f"{server} workers {alive} outlived their server"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/api/ping", timeout=2)
