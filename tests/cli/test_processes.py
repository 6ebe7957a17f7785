"""The real processes: `flashsale serve` (uvicorn, 2 workers) and `flashsale sweeper`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory import Inventory
from tests.support import FLASHSALE
from tests.support.api import arm, body, headers, spec
from tests.support.inventory import req
from tests.support.served import served


async def test_sweeper_process_releases_expired_holds_then_stops(
    settings: Settings, env: dict[str, str], unique: str
) -> None:
    rid = f"sweep{unique}"
    await arm(settings, spec(rid, stock=5, hold_seconds=1))
    client = aioredis.Redis.from_url(settings.redis_url)
    inventory = Inventory(client)
    try:
        for i in range(3):
            r = await inventory.reserve(req(rid, f"s{i}", agreement_version="v3"))
            assert r.ok
        proc = subprocess.Popen(
            [FLASHSALE, "sweeper", "--interval", "0.2", "--no-armer"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                stats = await inventory.stats(rid)
                if stats.released == 3:
                    break
                await asyncio.sleep(0.2)
            assert stats.released == 3
            assert stats.left == 5
            assert stats.held == 0
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out.decode()
    finally:
        await inventory.aclose()
        await client.aclose()


async def test_served_by_uvicorn_workers(
    settings: Settings, env: dict[str, str], unique: str
) -> None:
    rid = f"srv{unique}"
    await arm(settings, spec(rid, stock=10))
    async with served(env) as server:  # two workers
        results = await asyncio.gather(
            *(
                server.http.post(
                    f"/api/rounds/{rid}/orders",
                    json=body(),
                    headers=headers(settings, f"w{i}", f"srv-key-{i:04d}"),
                )
                for i in range(40)
            )
        )
    assert sorted(r.status_code for r in results).count(201) == 10
    assert {r.json()["error"]["code"] for r in results if r.status_code != 201} == {"sold_out"}
