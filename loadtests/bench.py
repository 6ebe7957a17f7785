"""The throughput benchmark: one server, one load generator, ratios measured in one run.

Each repetition runs, back to back on the same `flashsale serve` and the same wrk:
``/api/ping`` (no I/O: the ceiling), reserve (distinct pre-minted buyers, stock never runs out),
sold-out answers, the naive PostgreSQL baseline (P3: a conditional UPDATE plus an order INSERT
per request) and the naive Redis endpoint (P4: one EVALSHA of the same reserve script per
request through redis-py, no batching: ``loadtests/baseline.py``). Then redis-benchmark runs
the reserve script with one reservation per call (the Redis-side rate of one script per
request, for reference). Medians over the repetitions are reported.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis

from checkout import idnumber
from flashsale.cli.serve import DEFAULT_SERVER
from flashsale.core.settings import Settings
from flashsale.front import tokens
from inventory import Inventory, ReserveRequest
from inventory.keys import ARMED_ROUNDS, RoundKeys
from inventory.models import reserve_batch
from inventory.scripts import script
from inventory.spec import RoundSpec
from loadtests.wrk_runner import WrkResult, run_wrk

AGREEMENT = "bench-v1"
PACED_CONNECTIONS = 256
DEFAULT_APP = "flashsale.front.app:create_app"
OFFER = {
    "name": "Bench 3G card",
    "product_kind": "sim_card",
    "price_fen": 2000,
    "currency": "CNY",
    "gifts": [],
    "agreement_version": AGREEMENT,
}


@dataclass
class BenchConfig:
    seconds: float = 5.0
    repetitions: int = 3
    connections: int = 64
    workers: int = 2
    buyers_per_rep: int = 60_000
    results: Path = Path("results")
    baseline: bool = True
    servers: tuple[str, ...] = (DEFAULT_SERVER,)  # several: each runs every repetition, in turn
    host: str | None = None  # a server already running (not started; no naive baseline)


@dataclass
class Rep:
    ping: WrkResult
    reserve: WrkResult
    sold_out: WrkResult
    baseline: WrkResult | None = None
    naive_redis: WrkResult | None = None  # one EVALSHA per request through redis-py
    redis_script_rps: float | None = None
    paced: WrkResult | None = None  # reserve offered at ~80 % of this rep's max rate
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (s, orders) in reserve

    def ratios(self) -> dict[str, float | None]:
        return {
            "P1_reserve_over_ping": self.reserve.rps / self.ping.rps,
            "P2_sold_out_over_ping": self.sold_out.rps / self.ping.rps,
            "P3_reserve_over_baseline": (
                self.reserve.rps / self.baseline.rps
                if self.baseline and self.baseline.rps
                else None
            ),
            "P4_reserve_over_naive_redis": (
                self.reserve.rps / self.naive_redis.rps
                if self.naive_redis and self.naive_redis.rps
                else None
            ),
        }


@dataclass
class BenchRounds:
    reserve: str
    sold_out: str
    redis_only: str
    naive_redis: str
    all: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spec(round_id: str, stock: int, limits: int) -> RoundSpec:
    now = datetime.now(UTC)
    return RoundSpec(
        round_id=round_id,
        offer_id="bench",
        stock=stock,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        per_account_limit=limits,
        per_id_limit=limits,
        hold_seconds=3600,
        number_choice=False,
        channels=("web", "mobile", "sms"),
        status="live",
        agreement_version=AGREEMENT,
        offer=OFFER,
    )


async def arm_rounds(settings: Settings, nonce: str) -> BenchRounds:
    rounds = BenchRounds(
        reserve=f"bench-{nonce}-r",
        sold_out=f"bench-{nonce}-s",
        redis_only=f"bench-{nonce}-x",
        naive_redis=f"bench-{nonce}-e",
    )
    rounds.all = [rounds.reserve, rounds.sold_out, rounds.redis_only, rounds.naive_redis]
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        inv = Inventory(client)
        await inv.arm(_spec(rounds.reserve, 50_000_000, 1))
        await inv.arm(_spec(rounds.sold_out, 0, 1))
        await inv.arm(_spec(rounds.redis_only, 50_000_000, 0))
        await inv.arm(_spec(rounds.naive_redis, 50_000_000, 1))
        await script("reserve").load(client)
    finally:
        await client.aclose()
    return rounds


async def forget_rounds(settings: Settings, rounds: BenchRounds) -> None:
    """Remove the bench rounds' keys so the relay and sweeper never see them."""
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        for rid in rounds.all:
            await client.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
            keys = RoundKeys(rid)
            await client.unlink(*keys.script_keys(), keys.outbox)  # freed in the background
    finally:
        await client.aclose()


def write_buyers(settings: Settings, path: Path, count: int, seed: int) -> None:
    """``token<TAB>id_number`` lines: distinct buyers with distinct valid ID numbers."""
    rng = random.Random(seed)
    seen: set[str] = set()
    lines: list[str] = []
    while len(lines) < count:
        idn = idnumber.generate(rng)
        if idn in seen:
            continue
        seen.add(idn)
        token = tokens.issue(settings.token_secret, f"bench-{seed}-{len(lines)}", 7200)
        lines.append(f"{token}\t{idn}\n")
    path.write_text("".join(lines))


class Server:
    """`flashsale serve` as a subprocess on a free loopback port."""

    def __init__(
        self, workers: int, env: dict[str, str], factory: str, server: str = DEFAULT_SERVER
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("flashsale")),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--server",
                server,
                *(["--app", factory] if factory != DEFAULT_APP else []),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        answer = "no answer"
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(f"{self.url}/api/ping", timeout=1)
                if reply.status_code == 200:
                    return
                answer = f"HTTP {reply.status_code}"
            except httpx.TransportError as exc:
                answer = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become ready ({answer})")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Remote(Server):
    """A server already running (``flashsale bench --host URL``): nothing to start or stop."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def stop(self) -> None:
        return None


# redis-benchmark replaces each __rand_int__ with a random number, per call.
_RANDOM_ITEM = ReserveRequest(
    round_id="bench", buyer_id="b__rand_int__", id_hash="h__rand_int__", quantity=1,
    idempotency_key="k__rand_int__", channel="web", agreement_version=AGREEMENT,
)  # fmt: skip


def redis_script_rate(settings: Settings, round_id: str, requests: int = 100_000) -> float:
    """redis-benchmark: the reserve script, ONE reservation per EVALSHA (no batching)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise RuntimeError("redis-benchmark is missing (Debian package redis-tools)")
    from urllib.parse import urlsplit

    url = urlsplit(settings.redis_url)
    keys = RoundKeys(round_id).script_keys()
    argv = [
        binary,
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 6379),
        "--dbnum",
        (url.path or "/0").lstrip("/") or "0",
        "-n",
        str(requests),
        "-c",
        "50",
        "-r",
        "1000000000",
        "-q",
        "EVALSHA",
        script("reserve").sha,
        str(len(keys)),
        *keys,
        round_id,
        # one request per call, in the script's batch format (see inventory/lua/reserve.lua)
        reserve_batch([_RANDOM_ITEM.script_item()]).decode(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    # "EVALSHA ...: 12345.67 requests per second, p50=..." (the last \r-separated segment)
    rates = re.findall(r"([\d.]+) requests per second", done.stdout)
    if not rates:
        raise RuntimeError(f"could not read redis-benchmark output: {done.stdout[-500:]!r}")
    return float(rates[-1])


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarize(reps: list[Rep]) -> dict[str, Any]:
    ratios = [r.ratios() for r in reps]
    out: dict[str, Any] = {"repetitions": len(reps)}
    for name in ratios[0]:
        values = [r[name] for r in ratios if r[name] is not None]
        out[name] = round(median(values), 3) if values else None  # type: ignore[arg-type]
    out["rps_median"] = {
        "ping": round(median([r.ping.rps for r in reps])),
        "reserve": round(median([r.reserve.rps for r in reps])),
        "sold_out": round(median([r.sold_out.rps for r in reps])),
        "baseline": round(median([r.baseline.rps for r in reps if r.baseline]))
        if reps[0].baseline
        else None,
        "naive_redis": round(median([r.naive_redis.rps for r in reps if r.naive_redis]))
        if reps[0].naive_redis
        else None,
        "redis_script_one_per_call": round(
            median([r.redis_script_rps for r in reps if r.redis_script_rps])
        )
        if reps[0].redis_script_rps
        else None,
    }
    out["reserve_latency_ms_median"] = {
        p: round(median([r.reserve.latency_ms[p] for r in reps]), 2)
        for p in reps[0].reserve.latency_ms
    }
    out["reserve_non_2xx"] = sum(r.reserve.non_2xx for r in reps)
    paced = [r.paced for r in reps if r.paced]
    if paced:
        out["at_80_percent"] = {
            "offered_rps_median": round(median([p.rps for p in paced])),
            "p50_ms": round(median([p.latency_ms["50"] for p in paced]), 2),
            "p99_ms": round(median([p.latency_ms["99"] for p in paced]), 2),
            "share_of_max_median": round(
                median([r.paced.rps / r.reserve.rps for r in reps if r.paced]), 2
            ),
            "non_2xx": sum(p.non_2xx for p in paced),
        }
    out["runs"] = [
        {
            "ping": r.ping.as_dict(),
            "reserve": r.reserve.as_dict(),
            "sold_out": r.sold_out.as_dict(),
            "baseline": r.baseline.as_dict() if r.baseline else None,
            "naive_redis": r.naive_redis.as_dict() if r.naive_redis else None,
            "paced": r.paced.as_dict() if r.paced else None,
            "redis_script_rps": r.redis_script_rps,
            "ratios": r.ratios(),
            "reserve_timeline": r.timeline,
        }
        for r in reps
    ]
    return out


class OrderSampler(threading.Thread):
    """Reservations acknowledged in a round, sampled a few times a second (throughput plot)."""

    def __init__(self, settings: Settings, round_id: str, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(settings.redis_url)
        self.key = RoundKeys(round_id).counters
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        try:
            while not self.done.wait(self.every):
                orders = int(self.client.hget(self.key, "orders") or 0)  # type: ignore[arg-type]
                self.samples.append((round(time.monotonic() - began, 2), orders))
        finally:
            self.client.close()


def _repetition(
    settings: Settings,
    config: BenchConfig,
    server: Server,
    rounds: BenchRounds,
    baseline_round: str,
    tag: str,
    seed: int,
) -> Rep:
    buyers = config.results / f"buyers-{tag}.tsv"
    paced_buyers = config.results / f"buyers-{tag}-paced.tsv"
    write_buyers(settings, buyers, config.buyers_per_rep, seed=seed)
    probe_buyers = config.results / f"buyers-{tag}-probe.tsv"
    write_buyers(settings, paced_buyers, config.buyers_per_rep, seed=seed + 1)
    write_buyers(settings, probe_buyers, config.buyers_per_rep // 4, seed=seed + 2)
    try:
        common: dict[str, Any] = {"seconds": config.seconds, "connections": config.connections}
        ping = run_wrk(f"{server.url}/api/ping", **common)
        sampler = OrderSampler(settings, rounds.reserve)
        sampler.start()
        try:
            reserve = run_wrk(
                server.url,
                script="reserve.lua",
                **common,
                args=[str(buyers), rounds.reserve, tag, AGREEMENT, "1"],
            )
        finally:
            sampler.done.set()
            sampler.join()
        sold = run_wrk(
            server.url,
            script="reserve.lua",
            **common,
            args=[str(buyers), rounds.sold_out, f"{tag}s", AGREEMENT, "1"],
        )
        naive = naive_redis = None
        if config.baseline:
            naive = run_wrk(
                server.url,
                script="reserve.lua",
                **common,
                args=[str(buyers), f"naive/{baseline_round}", f"{tag}n", AGREEMENT, "1"],
            )
            naive_redis = run_wrk(
                server.url,
                script="reserve.lua",
                **common,
                args=[str(buyers), f"naive-redis/{rounds.naive_redis}", f"{tag}e", AGREEMENT, "1"],
            )
        # p50/p99 at ~80 % of the maximum, closed-loop pacing: each of PACED_CONNECTIONS waits
        # pace_ms plus its own latency between requests. A 2 s probe measures that latency
        # under the load, then the pace is set for 80 % and the real run is measured.
        target = 0.8 * reserve.rps
        pace_ms = max(1.0, PACED_CONNECTIONS * 1000 / target - reserve.latency_ms.get("50", 0.0))
        probe = run_wrk(
            server.url,
            script="reserve_paced.lua",
            seconds=2,
            connections=PACED_CONNECTIONS,
            args=[
                str(probe_buyers),
                rounds.reserve,
                f"{tag}q",
                AGREEMENT,
                "1",
                str(round(pace_ms)),
            ],
        )
        waited = PACED_CONNECTIONS * 1000 / max(probe.rps, 1.0) - pace_ms  # latency + overhead
        pace_ms = max(1.0, PACED_CONNECTIONS * 1000 / target - waited)
        paced = run_wrk(
            server.url,
            script="reserve_paced.lua",
            seconds=config.seconds,
            connections=PACED_CONNECTIONS,
            args=[
                str(paced_buyers),
                rounds.reserve,
                f"{tag}p",
                AGREEMENT,
                "1",
                str(round(pace_ms)),
            ],
        )
        script_rps = redis_script_rate(settings, rounds.redis_only)
    finally:
        buyers.unlink(missing_ok=True)
        paced_buyers.unlink(missing_ok=True)
        probe_buyers.unlink(missing_ok=True)
    return Rep(ping, reserve, sold, naive, naive_redis, script_rps, paced, sampler.samples)


def _line(rep: int, r: Rep, server: str) -> str:
    q = r.ratios()
    text = (
        f"rep {rep + 1} ({server}): ping {r.ping.rps:.0f}/s, reserve {r.reserve.rps:.0f}/s "
        f"(P1 {q['P1_reserve_over_ping']:.2f}), sold-out {r.sold_out.rps:.0f}/s "
        f"(P2 {q['P2_sold_out_over_ping']:.2f})"
    )
    if r.baseline:
        text += f", naive PG {r.baseline.rps:.0f}/s (P3 {q['P3_reserve_over_baseline']:.1f}x)"
    if r.naive_redis:
        text += (
            f", naive EVALSHA/request {r.naive_redis.rps:.0f}/s "
            f"(P4 {q['P4_reserve_over_naive_redis']:.2f}x)"
        )
    text += f", redis-benchmark script 1/call {r.redis_script_rps:.0f}/s"
    if r.paced:
        text += (
            f", at {r.paced.rps:.0f}/s p50 {r.paced.latency_ms.get('50')} ms "
            f"p99 {r.paced.latency_ms.get('99')} ms"
        )
    return text


def run(settings: Settings, config: BenchConfig, say: Any = print) -> dict[str, Any]:
    """The whole benchmark; returns the summary (also written by the caller)."""
    nonce = uuid.uuid4().hex[:8]
    config.results.mkdir(parents=True, exist_ok=True)
    rounds = asyncio.run(arm_rounds(settings, nonce))
    baseline_round = f"bench-{nonce}-naive"
    env = {
        **os.environ,
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_DATABASE_URL": settings.database_url,
    }
    if config.baseline:
        from loadtests.baseline import prepare

        asyncio.run(prepare(settings.database_url, baseline_round, 50_000_000))
    factory = "loadtests.baseline:create_app" if config.baseline else DEFAULT_APP
    reps: dict[str, list[Rep]] = {name: [] for name in config.servers}
    try:
        for rep in range(config.repetitions):
            for name in config.servers:
                server = (
                    Remote(config.host)
                    if config.host
                    else Server(config.workers, env, factory, name)
                )
                try:
                    server.wait_ready()
                    reps[name].append(
                        _repetition(
                            settings,
                            config,
                            server,
                            rounds,
                            baseline_round,
                            f"{nonce}{rep}{name[0]}",
                            seed=hash((nonce, rep, name)),
                        )
                    )
                finally:
                    server.stop()
                say(_line(rep, reps[name][-1], name))
    finally:
        try:
            asyncio.run(forget_rounds(settings, rounds))
        except redis.RedisError as exc:  # the figures are measured: keep them
            say(f"bench rounds not removed from Redis ({exc}); they are bench-{nonce}-*")
    first = config.servers[0]
    summary = summarize(reps[first])
    summary["server"] = first
    if len(config.servers) > 1:
        by_server = {name: summarize(r) for name, r in reps.items()}
        summary["by_server"] = {
            name: {k: v for k, v in s.items() if k != "runs"} for name, s in by_server.items()
        }
        summary["runs_by_server"] = {name: s["runs"] for name, s in by_server.items()}
    summary["config"] = {
        "seconds": config.seconds,
        "repetitions": config.repetitions,
        "connections": config.connections,
        "workers": config.workers,
        "servers": list(config.servers),
        "generator": "wrk -t1",
        "cores": os.cpu_count(),
    }
    return summary
