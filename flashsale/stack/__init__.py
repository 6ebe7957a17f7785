"""The local stack: Redis, PostgreSQL and Kafka on loopback, data under ``.flashsale/``.

``up`` starts whatever is not already reachable and waits until each service answers a real
request; ``down`` stops only the processes ``up`` started (tracked by pid files).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flashsale.core.settings import Settings
from flashsale.stack._process import StackError, wait_until
from flashsale.stack._service import Address, Service, Status
from flashsale.stack.kafka import KafkaService
from flashsale.stack.postgres import PostgresService
from flashsale.stack.redis import RedisService

__all__ = ["Stack", "StackError", "Status"]


class Stack:
    def __init__(self, settings: Settings) -> None:
        data = settings.data_dir
        self.services: list[Service] = [
            RedisService(
                settings.redis_url,
                Address.from_url(settings.redis_url, 6379),
                data,
                appendfsync=settings.redis_appendfsync,
            ),
            PostgresService(
                settings.database_url, Address.from_url(settings.database_url, 5432), data
            ),
            KafkaService(
                settings.kafka_version, Address.from_url(settings.kafka_bootstrap, 9092), data
            ),
        ]

    async def up(self, report: Callable[[str], None] = print) -> list[Status]:
        for service in self.services:
            if await service.ready():
                owner = "ours" if service.owned_pid() else "already running"
                report(f"{service.name}: {service.address} ready ({owner})")
                continue
            if service.owned_pid() is not None:
                report(f"{service.name}: waiting for the process we started")
                await wait_until(
                    service.ready,
                    service.start_timeout,
                    service.name,
                    alive=lambda s=service: s.owned_pid() is not None,  # type: ignore[misc]
                    log=service.log,
                )
                continue
            if not service.address.local:
                raise StackError(
                    f"{service.name} at {service.address} is not reachable and is "
                    "not on this machine, so it cannot be started here"
                )
            report(f"{service.name}: starting on {service.address}")
            began = time.monotonic()
            await service.start()
            report(f"{service.name}: ready in {time.monotonic() - began:.1f}s")
        return await self.status()

    def down(self, report: Callable[[str], None] = print) -> None:
        for service in reversed(self.services):
            if service.stop():
                report(f"{service.name}: stopped")
            else:
                report(f"{service.name}: not started by us, left alone")

    async def status(self) -> list[Status]:
        return [await service.status() for service in self.services]
