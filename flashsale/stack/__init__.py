"""The local stack: Redis, PostgreSQL and Kafka on loopback, data under ``.flashsale/``.

``up`` starts whatever is not already reachable and waits until each service answers a real
request; ``down`` stops only the processes ``up`` started (tracked by pid files).

``Stack(settings, cluster=True)`` is the cluster profile (:mod:`flashsale.stack.cluster`):
PostgreSQL and Kafka as above, a 3-master Redis Cluster instead of one Redis, two fronts
behind HAProxy, two writers and two fulfillers. ``down`` and ``status`` include the profile
whenever any of its processes runs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from flashsale.core.redis import is_cluster_url
from flashsale.core.settings import Settings
from flashsale.stack import cluster as _cluster
from flashsale.stack._process import StackError
from flashsale.stack._service import Address, Service, Status
from flashsale.stack.kafka import KafkaService
from flashsale.stack.postgres import PostgresService
from flashsale.stack.redis import RedisService

__all__ = ["Stack", "StackError", "Status"]


class Stack:
    def __init__(self, settings: Settings, cluster: bool = False) -> None:
        data = settings.data_dir
        base: list[Service] = [
            PostgresService(
                settings.database_url, Address.from_url(settings.database_url, 5432), data
            ),
            KafkaService(
                settings.kafka_version, Address.from_url(settings.kafka_bootstrap, 9092), data
            ),
        ]
        self.profile = _cluster.profile(settings.redis_url, data, settings.redis_appendfsync)
        # a cluster URL in FLASHSALE_REDIS_URL means the profile, as --cluster does
        cluster = cluster or is_cluster_url(settings.redis_url)
        self.cluster = cluster or any(s.owned_pid() is not None for s in self.profile)
        if cluster:
            self._base, self._startable = base, base + self.profile
            self.services = self._startable
        else:
            single: Service = RedisService(
                settings.redis_url,
                Address.from_url(settings.redis_url, 6379),
                data,
                appendfsync=settings.redis_appendfsync,
            )
            self._base = self._startable = [single, *base]
            # the profile's processes are listed (for down and status) once any of them runs
            self.services = [single, *base, *(self.profile if self.cluster else [])]

    async def up(
        self,
        report: Callable[[str], None] = print,
        init: Callable[[], Awaitable[None]] | None = None,
    ) -> list[Status]:
        """Start what is down; ``init`` (migrations, topics) runs once the base services —
        PostgreSQL and Kafka — are ready, before any process of the cluster profile starts."""
        for service in self._base:
            await self._up(service, report)
        if init is not None:
            await init()
        for service in self._startable[len(self._base) :]:
            await self._up(service, report)
        return await self.status()

    async def _up(self, service: Service, report: Callable[[str], None]) -> None:
        if await service.ready():
            owner = "ours" if service.owned_pid() else "already running"
            report(f"{service.name}: {service.address} ready ({owner})")
            return
        if service.owned_pid() is not None:
            report(f"{service.name}: waiting for the process we started")
            await service.wait_started()
            return
        if not service.address.local:
            raise StackError(
                f"{service.name} at {service.address} is not reachable and is "
                "not on this machine, so it cannot be started here"
            )
        report(f"{service.name}: starting on {service.address}")
        began = time.monotonic()
        await service.start()
        report(f"{service.name}: ready in {time.monotonic() - began:.1f}s")

    def down(self, report: Callable[[str], None] = print) -> None:
        for service in reversed(self.services):
            if service.stop():
                report(f"{service.name}: stopped")
            else:
                report(f"{service.name}: not started by us, left alone")

    async def status(self) -> list[Status]:
        return [await service.status() for service in self.services]

    async def topology(self, settings: Settings) -> dict[str, object]:
        """What runs where: the Redis mode (and the cluster's masters and slots), the fronts
        behind the balancer, the consumer groups' members."""
        if not self.cluster:
            return {"redis": {"mode": "single", "url": settings.redis_url}}
        return await _cluster.topology(self.profile, settings)
