"""A private 3-master Redis Cluster for a test module: the stack's own
:class:`flashsale.stack.cluster.RedisClusterService` on free loopback ports under a tmp dir
(each port's cluster bus, port + 10000, free too), stopped afterwards."""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from flashsale.core.redis import CLUSTER_SCHEME
from flashsale.stack.cluster import RedisClusterService
from tests.support.processes import bindable


def free_cluster_url(avoid: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    """Three free node ports below the kernel's ephemeral range whose bus ports are free."""
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < 3:
        port = rng.randrange(10_000, 20_000)
        if {port, port + 10_000} & (set(avoid) | set(ports)):
            continue
        if bindable(port) and bindable(port + 10_000):
            ports.append(port)
    return f"{CLUSTER_SCHEME}://" + ",".join(f"127.0.0.1:{p}" for p in ports)


@contextlib.asynccontextmanager
async def private_cluster(appendfsync: str = "everysec") -> AsyncIterator[RedisClusterService]:
    root = Path(tempfile.mkdtemp(prefix="flashsale-cluster-"))
    cluster = RedisClusterService(free_cluster_url(), root, appendfsync)
    try:
        await cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
