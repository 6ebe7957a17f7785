"""What durability costs: reserve ÷ ping with Redis ``appendfsync everysec`` and ``always``.

One server, one wrk, one Redis. Each repetition runs ``/api/ping`` once, then the reserve
journey once under each fsync policy (switched at run time with ``CONFIG SET``; the order of the
two alternates between repetitions so a drift of the shared machine does not favour one). The
reservations are batched (one script per batch), so ``always`` costs one fsync per batch, not one
per reservation. Redis' own policy is restored at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import redis

from flashsale.core.settings import Settings
from loadtests.bench import (
    AGREEMENT,
    DEFAULT_APP,
    BenchConfig,
    Server,
    arm_rounds,
    forget_rounds,
    median,
    write_buyers,
)
from loadtests.wrk_runner import WrkResult, run_wrk

POLICIES = ("everysec", "always")


def _reserve(
    server: Server, config: BenchConfig, buyers: Path, round_id: str, tag: str
) -> WrkResult:
    return run_wrk(
        server.url,
        script="reserve.lua",
        seconds=config.seconds,
        connections=config.connections,
        args=[str(buyers), round_id, tag, AGREEMENT, "1"],
    )


def run(settings: Settings, config: BenchConfig, say: Any = print) -> dict[str, Any]:
    nonce = uuid.uuid4().hex[:8]
    config.results.mkdir(parents=True, exist_ok=True)
    rounds = asyncio.run(arm_rounds(settings, nonce))
    client = redis.Redis.from_url(settings.redis_url)
    original = str(client.config_get("appendfsync")["appendfsync"])
    env = {
        **os.environ,
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_DATABASE_URL": settings.database_url,
    }
    server = Server(config.workers, env, DEFAULT_APP)
    runs: list[dict[str, Any]] = []
    try:
        server.wait_ready()
        for rep in range(config.repetitions):
            ping = run_wrk(
                f"{server.url}/api/ping", seconds=config.seconds, connections=config.connections
            )
            row: dict[str, Any] = {"ping": ping.as_dict()}
            order = POLICIES if rep % 2 == 0 else POLICIES[::-1]
            for i, policy in enumerate(order):
                tag = f"{nonce}{rep}{policy[0]}"
                buyers = config.results / f"buyers-{tag}.tsv"
                write_buyers(settings, buyers, config.buyers_per_rep, seed=hash((nonce, rep, i)))
                try:
                    client.config_set("appendfsync", policy)
                    reserve = _reserve(server, config, buyers, rounds.reserve, tag)
                finally:
                    buyers.unlink(missing_ok=True)
                row[policy] = reserve.as_dict() | {"P1": round(reserve.rps / ping.rps, 3)}
            runs.append(row)
            say(
                f"rep {rep + 1}: ping {ping.rps:.0f}/s"
                + "".join(
                    f", reserve ({p}) {row[p]['rps']:.0f}/s (P1 {row[p]['P1']:.2f},"
                    f" p99 {row[p]['latency_ms'].get('99')} ms)"
                    for p in POLICIES
                )
            )
    finally:
        client.config_set("appendfsync", original)
        client.close()
        server.stop()
        asyncio.run(forget_rounds(settings, rounds))
    summary: dict[str, Any] = {"repetitions": len(runs)}
    for policy in POLICIES:
        summary[f"P1_{policy}"] = round(median([r[policy]["P1"] for r in runs]), 3)
        summary[f"reserve_p99_ms_{policy}"] = round(
            median([r[policy]["latency_ms"]["99"] for r in runs]), 2
        )
    summary["always_over_everysec"] = round(
        median([r["always"]["P1"] / r["everysec"]["P1"] for r in runs]), 3
    )
    summary["config"] = {
        "seconds": config.seconds,
        "connections": config.connections,
        "workers": config.workers,
        "generator": "wrk -t1",
        "cores": os.cpu_count(),
    }
    summary["runs"] = runs
    return summary
