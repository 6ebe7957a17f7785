"""One front worker for the multi-worker metrics test: ``python -m tests.support.metrics_worker
N`` serves N pings in-process (the real app and lifespan, prometheus multiprocess mode from
``PROMETHEUS_MULTIPROC_DIR``), says ``idle`` and waits; each line on stdin then has it answer
``/metrics`` and print the ping count it reports."""

from __future__ import annotations

import asyncio
import sys

from prometheus_client.parser import text_string_to_metric_families

from flashsale.core.settings import Settings
from tests.support.api import api_client

PING = {"route": "/api/ping", "method": "GET", "status": "200"}


def ping_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "flashsale_http_requests_total" and s.labels == PING:
                return s.value
    return 0.0


async def main(pings: int) -> None:
    async with api_client(Settings.from_env()) as client:
        for _ in range(pings):
            assert (await client.get("/api/ping")).status_code == 200
        print("idle", flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(ping_count((await client.get("/metrics")).text), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
