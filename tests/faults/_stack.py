"""A private Redis, PostgreSQL and Kafka for the fault-injection suite: free loopback ports, a
tmp data dir, so SIGKILL / SIGSTOP never reach the shared stack other engineers' tests use.

Each service is the product's own `flashsale.stack` service; this adds kill (SIGKILL of the
whole server, children included), pause/resume (SIGSTOP/SIGCONT) and restart on the same data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from flashsale.stack._process import StackError, _start_time
from flashsale.stack._service import Address, Service
from flashsale.stack.kafka import KafkaService
from flashsale.stack.postgres import PostgresService
from flashsale.stack.redis import RedisService
from tests.support.processes import bindable
from tests.support.stack import processes


def free_port(pair: bool = False, avoid: frozenset[int] = frozenset()) -> int:
    """A free loopback port below the kernel's ephemeral range (so no outgoing connection takes
    it while a killed service is down), not next to one in ``avoid``; with ``pair``, port + 1
    is free too (Kafka's controller)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(10_000, low - 12_000), low - 2)
        if {port - 1, port, port + 1} & avoid:
            continue
        if bindable(port) and (not pair or bindable(port + 1)):
            return port
    raise RuntimeError("no free port")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    return [p.pid for p in processes() if p.ppid == pid]


def cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes()).replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def wait_gone(pids: list[int], limit: float = 15.0) -> None:
    started = {pid: _start_time(pid) for pid in pids}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if all(_start_time(pid) is None or _start_time(pid) != s for pid, s in started.items()):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"processes {pids} still alive after SIGKILL")


@dataclass
class PrivateStack:
    redis: RedisService  # its appendfsync attribute is set per scenario
    postgres: PostgresService
    kafka: KafkaService

    @classmethod
    def create(cls, root: Path, kafka_version: str, kafka_libs: Path) -> PrivateStack:
        redis_port = free_port()
        pg_port = free_port(avoid=frozenset({redis_port}))
        kafka_port = free_port(pair=True, avoid=frozenset({redis_port, pg_port}))
        redis = RedisService(
            f"redis://127.0.0.1:{redis_port}/0", Address("127.0.0.1", redis_port), root
        )
        pg_url = f"postgresql://flashsale@127.0.0.1:{pg_port}/flashsale"
        postgres = PostgresService(pg_url, Address("127.0.0.1", pg_port), root)
        kafka = KafkaService(kafka_version, Address("127.0.0.1", kafka_port), root)
        kafka.dir.mkdir(parents=True)
        kafka.libs.symlink_to(kafka_libs)
        return cls(redis, postgres, kafka)

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def kafka_bootstrap(self) -> str:
        return str(self.kafka.address)

    async def start(self) -> None:
        await asyncio.gather(self.redis.start(), self.postgres.start(), self.kafka.start())

    def stop(self) -> None:
        for service in (self.kafka, self.postgres, self.redis):
            with contextlib.suppress(Exception):  # teardown: stop what is left, best effort
                pid = service.owned_pid()
                if pid is not None:
                    os.kill(pid, signal.SIGCONT)  # a paused process cannot stop
                service.stop()

    def _pids(self, service: Service) -> list[int]:
        pid = service.owned_pid()
        if pid is None:
            raise RuntimeError(f"{service.name} is not running")
        return [pid, *children(pid)]

    async def kill(self, service: Service) -> None:
        """SIGKILL the server and its children (a crash of the whole service)."""
        pids = self._pids(service)
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await wait_gone(pids)

    def pause(self, service: Service) -> list[int]:
        pids = self._pids(service)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    @staticmethod
    def resume(pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    async def restart(self, service: Service) -> float:
        """Start again on the same data; the seconds until it answers."""
        began = time.monotonic()
        if isinstance(service, PostgresService):
            # A killed postmaster leaves postmaster.pid; PostgreSQL checks it is stale itself.
            await asyncio.to_thread(_retry_start_pg, service)
        else:
            await service.start()
        return time.monotonic() - began


def _retry_start_pg(service: PostgresService) -> None:
    # Orphaned backends may hold the shared memory a moment after the postmaster died.
    for attempt in range(20):
        try:
            asyncio.run(service.start())
            return
        except (StackError, OSError):
            if attempt == 19:
                raise
            time.sleep(0.5)
