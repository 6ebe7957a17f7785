"""The cluster profile of :mod:`flashsale.stack.cluster` run privately for the fault suite: a
3-master Redis Cluster, two fronts behind HAProxy, two writers and two fulfillers in their
consumer groups, a relay and a sweeper, on free loopback ports under a tmp dir, against the
fault suite's private PostgreSQL (a database of its own) and Kafka (a topic prefix of its own).

:class:`ClusterRig` is a :class:`tests.faults._sale.Rig` (the sale and its checks are the same);
the shoppers talk to HAProxy.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx

from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from flashsale.stack._service import Service
from flashsale.stack.cluster import (
    HAProxyService,
    Ports,
    ProcessService,
    RedisClusterService,
    RedisNode,
    consumer_groups,
    profile,
)
from tests.faults._sale import Rig
from tests.faults._stack import PrivateStack, free_port, wait_gone

#: Options of the profile's processes for a sale of a few seconds (as the fault suite's Rig).
ARGS = {
    "relay": ["--min-idle-ms", "3000"],
    "sweeper": ["--interval", "0.3"],
    "fulfill": ["--lease", "3", "--concurrency", "32", "--carrier-latency-ms", "5",
                "--carrier-step-seconds", "1"],
}  # fmt: skip


def free_ports(n: int, avoid: set[int]) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        port = free_port(avoid=frozenset(avoid | set(out)))
        out.append(port)
    return out


class ClusterRig(Rig):
    def __init__(
        self, settings: Settings, env: dict[str, str], stack: PrivateStack, work: Path
    ) -> None:
        super().__init__(settings, env, stack, work)
        used = {stack.redis.address.port, stack.postgres.address.port, stack.kafka.address.port}
        used.add(stack.kafka.address.port + 1)
        used |= {int(a.rsplit(":", 1)[1]) for a in settings.redis_url.split("//")[1].split(",")}
        balancer, stats, *fronts = free_ports(4, used)
        self.ports = Ports(balancer=balancer, stats=stats, fronts=tuple(fronts))
        self.profile = profile(
            settings.redis_url,
            work / "cluster",
            settings.redis_appendfsync,
            self.ports,
            env=env,
            args=ARGS,
        )
        self.port = balancer
        self.keep_down: set[str] = set()  # killed on purpose: revive() leaves them down

    def service(self, name: str) -> Service:
        for s in self.profile:
            if s.name == name:
                return s
            if isinstance(s, RedisClusterService):
                for node in s.nodes:
                    if node.name == name:
                        return node
        raise KeyError(name)

    @property
    def redis_cluster(self) -> RedisClusterService:
        return next(s for s in self.profile if isinstance(s, RedisClusterService))

    @property
    def balancer(self) -> HAProxyService:
        return next(s for s in self.profile if isinstance(s, HAProxyService))

    def node(self, index: int) -> RedisNode:
        return self.redis_cluster.nodes[index]

    async def start(self) -> None:
        """The cluster first, then every process at once, HAProxy last."""
        first, *processes, last = self.profile

        async def up(service: Service) -> None:
            if not await service.ready():
                await service.start()

        await up(first)
        await asyncio.gather(*(up(p) for p in processes))
        await up(last)

    def start_all(self) -> None:  # the sync entry point of Rig is not used here
        raise NotImplementedError("use `await ClusterRig.start()`")

    async def kill_now(self, name: str) -> None:
        """SIGKILL one process of the profile (a front, a worker or a Redis node)."""
        service = self.service(name)
        pid = service.owned_pid()
        assert pid is not None, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)
        await wait_gone([pid])

    def kill(self, name: str) -> None:
        raise NotImplementedError("use `await ClusterRig.kill_now(name)`")

    def restart(self, name: str) -> None:
        service = self.service(name)
        assert isinstance(service, ProcessService), name
        service.launch()

    def revive(self) -> list[str]:
        dead = [
            s.name
            for s in self.profile
            if isinstance(s, ProcessService)
            and s.owned_pid() is None
            and s.name not in self.keep_down
        ]
        for name in dead:
            self.restart(name)
        return dead

    def workers(self) -> list[int]:
        return []

    async def ping(self) -> bool:
        async with httpx.AsyncClient(timeout=1) as client:
            try:
                reply = await client.get(f"http://127.0.0.1:{self.port}/api/ping")
            except httpx.TransportError:
                return False
            return reply.status_code == 200

    async def fronts_up(self) -> list[str]:
        return [b["name"] for b in await self.balancer.backends() if b["status"] == "UP"]

    async def group_members(self, group: str) -> int:
        """Members of ``group`` holding partitions of this profile's orders topic (the fault
        suite's own writer shares the group id on the same Kafka, with other topics)."""
        found = await consumer_groups(self.settings, [group])
        entry = found.get(group)
        topic = Topics(self.settings.topic_prefix).orders
        members = entry.get("members", []) if isinstance(entry, dict) else []
        return sum(1 for m in members if topic in m["partitions"])

    def stop(self) -> dict[str, int | None]:
        for service in reversed(self.profile):
            service.stop()
        return {}


async def until(check: object, limit: float, every: float = 0.2) -> float:
    """Seconds until the awaitable-returning ``check()`` is true; AssertionError after ``limit``."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < limit:
        if await check():  # type: ignore[operator]
            return loop.time() - began
        await asyncio.sleep(every)
    raise AssertionError(f"not true after {limit}s")
