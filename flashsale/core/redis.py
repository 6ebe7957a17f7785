"""The one way processes open Redis: a single server or a Redis Cluster, named by the URL.

- ``redis://host:port/db`` — one server: a blocking pool whose connections retry once or twice
  on a dropped connection (a Redis restart leaves every pooled connection stale).
- ``redis+cluster://host:port[,host:port...]`` — a Redis Cluster, given by one or more seed
  nodes: redis-py's asyncio cluster client, which learns the slot map from the seeds, follows
  MOVED/ASK redirections and refreshes the map after a failover or a resharding. Every key a
  round's scripts touch carries the round's hash tag (:mod:`inventory.keys`), so each script
  call goes to one node; a script unknown to that node (NOSCRIPT, e.g. a new master after a
  failover) is sent in full once and cached there (:mod:`inventory.scripts`).

A retry re-sends a command whose reply was lost, so the command may run twice. That is safe
for everything we send: the inventory scripts are idempotent (reservations by Idempotency-Key,
confirmations by payment id, releases by order state), most of the rest are reads, and the
one-shot commands carry a token of the attempt so that their second run recognises the first:
the payment callback's replay mark (``SET NX GET`` of a per-call mark, checkout.payments), the
OTP send and verify scripts (flashsale.front.otp), the proof-of-work spend (``SET NX GET`` of the
Idempotency-Key, flashsale.front.admission.guard).
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

CLUSTER_SCHEME = "redis+cluster"

#: Errors meaning Redis cannot serve the command *now*, not that the command is wrong: a lost
#: connection or a timeout (which includes LOADING, an AOF replay), and on a cluster
#: CLUSTERDOWN / MASTERDOWN (a master is down), TRYAGAIN (a slot is migrating), READONLY (a
#: node demoted) and an uncovered slot. The caller backs off and retries; it never parks a
#: round or an event for one of these. Several are ResponseError subclasses: test with
#: :func:`is_outage` before treating a ResponseError as the command's (or the round's) fault.
OUTAGES: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
    RedisClusterException,
)

#: Everything a Redis call can raise (the cluster client's slot errors are not RedisErrors).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException)


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGES)


class RedisUrlError(ValueError):
    """A FLASHSALE_REDIS_URL that names no server."""


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme == CLUSTER_SCHEME


def cluster_seeds(url: str) -> list[tuple[str, int]]:
    """The ``host:port`` seed nodes of a ``redis+cluster://`` URL, in order."""
    parts = urlsplit(url)
    if parts.scheme != CLUSTER_SCHEME:
        raise RedisUrlError(f"not a {CLUSTER_SCHEME}:// URL")
    seeds = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isascii() or not port.isdigit():
            raise RedisUrlError(f"cluster seed {item!r} is not host:port")
        seeds.append((host.strip("[]"), int(port)))
    return seeds


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)


def redis_client(url: str, *, max_connections: int = 64, wait: float = 5.0) -> aioredis.Redis:
    """A client owning its pool (``aclose()`` closes it). On one server a burst waits up to
    ``wait`` seconds for a free connection instead of failing; on a cluster each node has its
    own pool of ``max_connections``.

    A cluster client is typed as :class:`redis.asyncio.Redis`: it offers the same commands for
    keys of one slot, which is all the processes send (one round's keys, or one global key)."""
    if is_cluster_url(url):
        parts = urlsplit(url)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster_seeds(url)],
            username=parts.username,
            password=parts.password,
            max_connections=max_connections,
            retry=_retry(),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            socket_connect_timeout=wait,
        )
        return cast(aioredis.Redis, cluster)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait,
        health_check_interval=30,
        retry=_retry(),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis.from_pool(pool)
