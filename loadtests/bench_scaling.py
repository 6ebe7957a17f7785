"""Scaling bench (issue 15): reserve throughput with 1, 2, 4… front processes x 1…B stock buckets
against a Redis Cluster, printing each cell's ratio to 1 front x 1 bucket of the same run.

A "front" here is a process running the front's reserve path (``Inventory.reserve``: batching,
limit tokens, bucket routing) with ``concurrency`` shoppers in flight, without HTTP — the
HTTP layer's cost per request is the ``flashsale bench`` P1 row and scales with front
processes alone; this bench isolates what buckets change: the Redis side. Every shopper is a
new buyer, the stock never runs out, so each request is one reservation.

Against ``FLASHSALE_REDIS_URL`` when it names a cluster (``redis+cluster://``, e.g. the
``stack up --cluster`` profile), else against a private 3-master cluster started for the run in
a temporary folder and stopped afterwards. Not a test: the figures depend on the machine (on 2
shared cores expect ratios near 1 — the fronts and the masters share the cores).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from flashsale.core.redis import CLUSTER_SCHEME, cluster_seeds, is_cluster_url, redis_client
from flashsale.core.settings import Settings
from flashsale.stack.cluster import RedisClusterService
from inventory import Inventory, ReserveRequest, RoundKeys, RoundSpec
from inventory.keys import ARMED_BUCKETS, ARMED_ROUNDS, bucket_space, outcome_field
from inventory.models import reserve_batch, with_token

STOCK = 10_000_000  # never sold out within a run


@dataclass(frozen=True)
class ScalingConfig:
    fronts: tuple[int, ...] = (1, 2)
    buckets: tuple[int, ...] = (1, 2, 4, 8)
    seconds: float = 3.0
    repetitions: int = 3
    concurrency: int = 64  # shoppers in flight per front process


def doubling(most: int) -> tuple[int, ...]:
    """1, 2, 4… up to ``most`` (and ``most`` itself)."""
    out = [1]
    while out[-1] * 2 <= most:
        out.append(out[-1] * 2)
    if out[-1] != most:
        out.append(most)
    return tuple(out)


def _free_port(rng: random.Random, taken: set[int]) -> int:
    while True:
        port = rng.randrange(20_000, 30_000)
        if {port, port + 10_000} & taken:
            continue
        try:
            for p in (port, port + 10_000):
                with closing(socket.socket()) as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        taken.update({port, port + 10_000})
        return port


def _private_url() -> str:
    rng, taken = random.Random(), set[int]()
    return f"{CLUSTER_SCHEME}://" + ",".join(
        f"127.0.0.1:{_free_port(rng, taken)}" for _ in range(3)
    )


def _spec(round_id: str, buckets: int) -> RoundSpec:
    now = datetime.now(UTC)
    return RoundSpec(
        round_id=round_id, offer_id="bench", stock=STOCK, starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1), per_account_limit=1, per_id_limit=1,
        hold_seconds=3600, number_choice=False, channels=("web",), status="live",
        agreement_version="v1", offer={"price_fen": 2000}, buckets=buckets,
    )  # fmt: skip


async def _front(url: str, round_id: str, tag: str, start_at: float, cfg: ScalingConfig) -> int:
    client = redis_client(url, max_connections=max(16, cfg.concurrency))
    inv = Inventory(client, sold_out_ttl=0)
    done = 0
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end = time.time() + cfg.seconds

        async def shopper(n: int) -> None:
            nonlocal done
            i = 0
            while time.time() < end:
                buyer = f"{tag}-{n}-{i}"
                result = await inv.reserve(ReserveRequest(
                    round_id=round_id, buyer_id=buyer, id_hash=buyer, quantity=1,
                    idempotency_key="k", channel="web", agreement_version="v1",
                    pii={"name": "Z*** San"},
                ))  # fmt: skip
                if result.ok:
                    done += 1
                i += 1

        await asyncio.gather(*(shopper(n) for n in range(cfg.concurrency)))
    finally:
        await inv.aclose()
        await client.aclose()
    return done


def _front_process(args: tuple[str, str, str, float, ScalingConfig]) -> int:
    return asyncio.run(_front(*args))


async def _arm(url: str, round_id: str, buckets: int) -> None:
    client = redis_client(url)
    inv = Inventory(client)
    try:
        await inv.arm(_spec(round_id, buckets))
        # nothing relays or sweeps a bench round: out of the armed sets at once
        await client.srem(ARMED_ROUNDS, round_id)  # type: ignore[misc]
        if buckets > 1:
            spaces = [bucket_space(round_id, b) for b in range(buckets)]
            await client.srem(ARMED_BUCKETS, *spaces)  # type: ignore[misc]
    finally:
        await inv.aclose()
        await client.aclose()


async def _drop(url: str, round_id: str, buckets: int) -> None:
    client = redis_client(url)
    try:
        spaces = [
            round_id,
            *(bucket_space(round_id, b) for b in range(buckets if buckets > 1 else 0)),
        ]
        for space in spaces:
            for key in RoundKeys(space).script_keys():
                await client.unlink(key)
    finally:
        await client.aclose()


def _cell(url: str, pool: Any, fronts: int, buckets: int, cfg: ScalingConfig) -> float:
    """Reservations per second of ``fronts`` processes on a fresh round of ``buckets``."""
    round_id = f"sc{uuid.uuid4().hex[:10]}"
    asyncio.run(_arm(url, round_id, buckets))
    try:
        start_at = time.time() + 1.5  # every process connected and waiting
        jobs = [(url, round_id, f"f{i}", start_at, cfg) for i in range(fronts)]
        return sum(pool.map(_front_process, jobs)) / cfg.seconds
    finally:
        asyncio.run(_drop(url, round_id, buckets))


def _buyers(round_id: str, n: int) -> list[ReserveRequest]:
    return [
        ReserveRequest(
            round_id=round_id, buyer_id=f"{round_id}-{i}", id_hash=f"h{i}", quantity=1,
            idempotency_key="k", channel="web", agreement_version="v1",
            pii={"real_name": "Z*** San", "id_masked": "1101**********123X",
                 "id_encrypted": "x" * 120, "address": "y" * 40},
        )
        for i in range(n)
    ]  # fmt: skip


async def _script_usec(nodes: list[aioredis.Redis]) -> int:
    """Microseconds every master has spent in scripts so far (INFO commandstats)."""
    total = 0
    for node in nodes:
        stats = await node.info("commandstats")
        total += sum(
            int(stats.get(k, {}).get("usec", 0)) for k in ("cmdstat_evalsha", "cmdstat_eval")
        )
    return total


async def script_costs(url: str, items: int = 256, reps: int = 10) -> dict[str, float]:
    """Redis CPU of each script a reservation of a bucketed round runs (take and bind on the
    round's master, reserve on the bucket's), per reservation, as a ratio to a plain round's
    reserve, in batches of ``items`` (INFO commandstats deltas over the masters: meaningful on
    a cluster nothing else uses, e.g. the private one)."""
    client = redis_client(url)
    nodes = [aioredis.Redis(host=h, port=p) for h, p in cluster_seeds(url)]
    inv = Inventory(client, sold_out_ttl=0)
    spent = dict.fromkeys(("reserve", "take", "bucket_reserve", "bind"), 0)

    async def timed(name: str, call: Any) -> Any:
        before = await _script_usec(nodes)
        answer = await call
        spent[name] += await _script_usec(nodes) - before
        return answer

    try:
        for _ in range(reps):
            plain, split_ = f"sp{uuid.uuid4().hex[:8]}", f"sb{uuid.uuid4().hex[:8]}"
            await _arm(url, plain, 1)
            await _arm(url, split_, 2)
            reqs = _buyers(split_, items)
            encoded = [r.script_item() for r in reqs]
            await timed("reserve", inv._call("reserve", plain, reserve_batch(encoded)))
            tokens = [outcome_field(r.buyer_id, r.idempotency_key) for r in reqs]
            take = [[r.buyer_id, r.id_hash, 1, t, r.fingerprint(), "web", "v1", ""]
                    for r, t in zip(reqs, tokens, strict=True)]  # fmt: skip
            rows = await timed("take", inv._call("limits", split_, {
                "op": "take", "grace_ms": 60_000, "items": take,
            }))  # fmt: skip
            carried = [with_token(e, t, int(row[2]))
                       for e, t, row in zip(encoded, tokens, rows, strict=True)]  # fmt: skip
            space = bucket_space(split_, 0)
            await timed("bucket_reserve", inv._call("reserve", space, reserve_batch(carried)))
            binds = {"op": "bind", "items": [[t, 0] for t in tokens]}
            await timed("bind", inv._call("limits", split_, binds))
            await _drop(url, plain, 1)
            await _drop(url, split_, 2)
    finally:
        await inv.aclose()
        await client.aclose()
        for node in nodes:
            await node.aclose()
    base = spent["reserve"] or 1
    return {name: round(usec / base, 2) for name, usec in spent.items()}


def measure(url: str, cfg: ScalingConfig, say: Callable[[str], object]) -> dict[str, Any]:
    rates: dict[tuple[int, int], list[float]] = {}
    ratios: dict[tuple[int, int], list[float]] = {}
    with mp.get_context("spawn").Pool(max(cfg.fronts)) as pool:
        for rep in range(cfg.repetitions):
            run: dict[tuple[int, int], float] = {}
            for fronts in cfg.fronts:
                for buckets in cfg.buckets:
                    run[fronts, buckets] = _cell(url, pool, fronts, buckets, cfg)
                    say(f"rep {rep + 1}: {fronts} front(s) x {buckets} bucket(s): "
                        f"{run[fronts, buckets]:,.0f} reservations/s")  # fmt: skip
            base = run[cfg.fronts[0], cfg.buckets[0]]
            for cell, rate in run.items():
                rates.setdefault(cell, []).append(rate)
                ratios.setdefault(cell, []).append(rate / base if base else 0.0)
    table = [
        {"fronts": f, "buckets": b, "median_rate": round(statistics.median(rates[f, b])),
         "median_ratio": round(statistics.median(ratios[f, b]), 2),
         "ratios": [round(x, 2) for x in ratios[f, b]]}
        for f, b in rates
    ]  # fmt: skip
    costs = [asyncio.run(script_costs(url)) for _ in range(cfg.repetitions)]
    return {
        "bench": "scaling", "seconds": cfg.seconds, "repetitions": cfg.repetitions,
        "concurrency": cfg.concurrency, "baseline": f"{cfg.fronts[0]} front x "
        f"{cfg.buckets[0]} bucket, same repetition", "table": table,
        "script_cpu_vs_plain_reserve": {
            name: statistics.median(c[name] for c in costs) for name in costs[0]
        },
    }  # fmt: skip


def run(settings: Settings, cfg: ScalingConfig, say: Callable[[str], object]) -> dict[str, Any]:
    """The bench against the settings' cluster, or a private one (see the module docstring)."""
    if is_cluster_url(settings.redis_url):
        say(f"against {settings.redis_url}")
        summary = measure(settings.redis_url, cfg, say)
    else:
        root = Path(tempfile.mkdtemp(prefix="flashsale-scaling-"))
        cluster = RedisClusterService(_private_url(), root, "everysec")
        try:
            asyncio.run(cluster.start())
            say(f"against a private cluster {cluster.url}")
            summary = measure(cluster.url, cfg, say)
        finally:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
    for row in summary["table"]:
        say(f"{row['fronts']} front(s) x {row['buckets']:>2} bucket(s): "
            f"{row['median_rate']:>9,} /s  ratio {row['median_ratio']:.2f}")  # fmt: skip
    costs = summary["script_cpu_vs_plain_reserve"]
    say("Redis CPU per reservation, ratio to a plain reserve: " + ", ".join(
        f"{name} {ratio:.2f}" for name, ratio in costs.items()
    ) + f" (the round's master: take + bind = {costs['take'] + costs['bind']:.2f})")  # fmt: skip
    return summary
