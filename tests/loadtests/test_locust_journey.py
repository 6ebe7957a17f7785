"""The shopper-journey locustfile, run headless for real against a `flashsale serve` subprocess.

A small round opens a few seconds after Locust starts: shoppers watch the countdown, buy at the
opening, pay or let the hold be; the CSV report must show reservations (never more than the
stock), sold_out answers once the stock is gone, and no failure (so no 5xx) — and Redis agrees.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory import Inventory
from inventory.keys import ARMED_ROUNDS
from tests.support import ROOT
from tests.support.api import arm, spec
from tests.support.processes import free_port, until_ping

BIN = Path(sys.executable).parent
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
STOCK = 12
USERS = 40
SERVER_ERRORS = ("[internal]", "[unavailable]", "[http_5", "[transport]", "('5")  # 5xx, no answer


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {f"{r['Type']} {r['Name']}".strip(): r for r in csv.DictReader(fh)}


def _failures(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return [f"{r['Method']} {r['Name']}: {r['Error']}" for r in csv.DictReader(fh)]


def _count(rows: dict[str, dict[str, str]], key: str) -> int:
    return int(rows[key]["Request Count"]) if key in rows else 0


@pytest.mark.timeout(60)
async def test_locust_journey_sells_out_without_errors(
    settings: Settings, env: dict[str, str], unique: str, tmp_path: Path
) -> None:
    buyers = tmp_path / "buyers.jsonl"
    minted = subprocess.run(
        [str(BIN / "flashsale"), "tokens", "mint", "--count", str(USERS), "--out", str(buyers)],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert minted.returncode == 0, minted.stderr.decode()

    rid = f"lj{unique}"
    opens = datetime.now(UTC) + timedelta(seconds=7)
    await arm(settings, spec(rid, stock=STOCK, starts_at=opens, status="scheduled"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "flashsale"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    client = aioredis.Redis.from_url(settings.redis_url)
    inventory = Inventory(client)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            await until_ping(http, 150, server)
        prefix = tmp_path / "locust"
        started = time.monotonic()
        locust = await asyncio.create_subprocess_exec(
            str(BIN / "locust"),
            "-f", str(LOCUSTFILE), "--headless", "-H", url,
            "--buyers", str(buyers), "--round", rid, "--pay-delay", "0.5",
            "-u", str(USERS), "-r", str(USERS), "--run-time", "14s", "--stop-timeout", "2",
            "--csv", str(prefix), "--html", str(tmp_path / "locust.html"), "--only-summary",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(locust.communicate(), 40)
        log = out.decode(errors="replace")[-4000:]
        assert time.monotonic() - started < 35, log
        failures = _failures(prefix.with_name("locust_failures.csv"))
        server_errors = [f for f in failures if any(m in f for m in SERVER_ERRORS)]
        assert server_errors == [], server_errors

        rows = _rows(prefix.with_name("locust_stats.csv"))
        reserved = _count(rows, "POST /api/rounds/[id]/orders [reserved]")
        sold_out = _count(rows, "POST /api/rounds/[id]/orders [sold_out]")
        assert 0 < reserved <= STOCK, rows.keys()
        assert sold_out > 0, rows.keys()
        assert _count(rows, "GET /api/rounds/[id]") >= USERS  # each shopper polled the countdown
        assert _count(rows, "GET /api/rounds") >= USERS  # everyone browsed first
        assert _count(rows, "POST /api/orders/[id]/pay [paid]") > 0
        assert any(k.startswith("GET /api/orders/[id] [") for k in rows)
        assert (tmp_path / "locust.html").stat().st_size > 0

        stats = await inventory.stats(rid)
        assert stats.left >= 0
        assert stats.stocked - stats.left <= STOCK
        assert stats.held + stats.paid <= STOCK
        assert stats.held + stats.paid >= reserved

        # Every other answer was expected (409 sold_out counts as success): no failure at all,
        # including a double click whose replayed Idempotency-Key got a different answer.
        assert failures == [], failures
        assert locust.returncode == 0, log  # Locust exits 1 on any failed request
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
        await client.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await inventory.aclose()
        await client.aclose()
