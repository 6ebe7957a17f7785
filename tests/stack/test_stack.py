"""`flashsale stack` against a private stack on other ports: up, up again, status, down."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.support import FLASHSALE
from tests.support.stack import processes


def _our_processes(data_dir: Path) -> list[str]:
    """Command lines of live processes that mention our private data dir (or its ports)."""
    return [
        f"{p.pid}: {p.cmdline}"
        for p in processes()
        if str(data_dir) in p.cmdline or "127.0.0.1:16399" in p.cmdline
    ]


@pytest.fixture(scope="module")
def private_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("stack") / ".flashsale"
    return {
        **os.environ,
        "FLASHSALE_DATA_DIR": str(data),
        "FLASHSALE_REDIS_URL": "redis://127.0.0.1:16399/0",
        "FLASHSALE_DATABASE_URL": "postgresql://flashsale@127.0.0.1:15499/flashsale",
        "FLASHSALE_KAFKA_BOOTSTRAP": "127.0.0.1:19099",
    }


def _cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASHSALE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.timeout(400)
def test_stack_up_twice_status_and_down(private_env: dict[str, str]) -> None:
    data_dir = Path(private_env["FLASHSALE_DATA_DIR"])
    first = _cli(private_env, "stack", "up", "--json")
    assert first.returncode == 0, first.stderr + first.stdout
    services = {s["name"]: s for s in json.loads(first.stdout)["services"]}
    assert set(services) == {"redis", "postgres", "kafka"}
    assert all(s["state"] == "running" and s["managed"] for s in services.values())
    pids = {name: s["pid"] for name, s in services.items()}

    # Redis runs with the append-only file on, fsync before every reply (the default setting).
    client = redis.Redis(port=16399)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert client.info("persistence")["aof_enabled"] == 1
    finally:
        client.close()

    # Up again: a no-op that starts nothing new.
    began = time.monotonic()
    second = _cli(private_env, "stack", "up", "--json")
    assert second.returncode == 0, second.stderr
    again = {s["name"]: s["pid"] for s in json.loads(second.stdout)["services"]}
    assert again == pids
    assert time.monotonic() - began < 30

    status = _cli(private_env, "stack", "status", "--json")
    assert status.returncode == 0
    assert {s["name"]: s["state"] for s in json.loads(status.stdout)["services"]} == {
        "redis": "running",
        "postgres": "running",
        "kafka": "running",
    }
    assert _our_processes(data_dir)

    down = _cli(private_env, "stack", "down")
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 20
    while _our_processes(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _our_processes(data_dir) == []
    stopped = _cli(private_env, "stack", "status", "--json")
    assert stopped.returncode == 3
    assert {s["state"] for s in json.loads(stopped.stdout)["services"]} == {"stopped"}


def test_down_leaves_services_it_did_not_start(tmp_path: Path, private_env: dict[str, str]) -> None:
    """A fresh data dir owns nothing, so down must not touch the session's running stack."""
    env = {**os.environ, "FLASHSALE_DATA_DIR": str(tmp_path / ".flashsale")}
    result = _cli(env, "stack", "down")
    assert result.returncode == 0
    assert result.stdout.count("not started by us") == 3
    status = _cli(env, "stack", "status", "--json")
    assert status.returncode == 0  # the shared stack still answers
    assert not any(s["managed"] for s in json.loads(status.stdout)["services"])
