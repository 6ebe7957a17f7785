"""Redis 7 from Debian's redis-server, its own process, AOF on (``appendfsync`` from the settings:
``always`` by default)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from flashsale.stack import _packages
from flashsale.stack._process import spawn
from flashsale.stack._service import Service


class RedisService(Service):
    name = "redis"
    start_timeout = 30.0

    def __init__(self, url: str, *args, appendfsync: str = "always", **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.url = url
        self.appendfsync = appendfsync

    async def ready(self) -> bool:
        client = aioredis.Redis(
            host=self.address.host,
            port=self.address.port,
            socket_connect_timeout=1,
            socket_timeout=2,
        )
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()

    def config(self) -> str:
        return "\n".join(
            [
                f"bind {self.address.host}",
                f"port {self.address.port}",
                f"dir {self.dir}",
                "daemonize no",
                "protected-mode yes",
                "appendonly yes",
                f"appendfsync {self.appendfsync}",
                'save ""',
                "maxclients 10000",
                "tcp-backlog 4096",
                "",
            ]
        )

    async def start(self) -> None:
        binary = _packages.ensure("redis-server", "redis-server")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text(self.config())
        spawn([binary, str(conf)], self.log, self.pidfile)
        await self.wait_started()
