"""The fixtures of the inventory tests run again on a cluster: a private 3-master Redis Cluster
per test module (``cluster``) and, replacing the single-node one, the cluster client the
processes use (``redis``). A module takes them with ``cluster = on_cluster.cluster`` and
``redis = on_cluster.redis``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from flashsale.core.redis import redis_client
from flashsale.stack.cluster import RedisClusterService
from tests.support.cluster import private_cluster


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[RedisClusterService]:
    async with private_cluster() as running:
        yield running


@pytest.fixture
async def redis(cluster: RedisClusterService) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(cluster.url)
    yield client
    await client.aclose()
