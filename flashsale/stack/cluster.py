"""The local cluster profile (``flashsale stack up --cluster``): a 3-master Redis Cluster with AOF,
two fronts behind HAProxy, two writers and two fulfillment workers in their consumer groups,
one relay and one sweeper, every process its own, from Debian's packages.

::

    :8000 HAProxy ──┬── front-1 :8001 ─┐            ┌── writer-1 ─┐ group "writer"
     (health check  └── front-2 :8002 ─┤            ├── writer-2 ─┘
      GET /api/ping)                   ▼            │
                      Redis Cluster 7001 7002 7003 ─┤ relay → Kafka (partitions ≥ consumers)
                      (each round under one tag)    ├── fulfill-1 ┐ group "fulfillment"
                                                    └── fulfill-2 ┘

The fronts, writers and fulfillers read ``FLASHSALE_REDIS_URL=redis+cluster://…`` (the
cluster's seeds) and every other setting from the environment of ``stack up``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from flashsale.core.kafka import fulfillment_group, writer_group
from flashsale.core.redis import CLUSTER_SCHEME, cluster_seeds, is_cluster_url
from flashsale.core.settings import Settings
from flashsale.stack import _packages
from flashsale.stack._process import spawn, wait_until
from flashsale.stack._service import Address, Service, Status
from flashsale.stack.redis import RedisService

SLOTS = 16384
#: The cluster's seeds when FLASHSALE_REDIS_URL does not name a cluster.
DEFAULT_CLUSTER_URL = f"{CLUSTER_SCHEME}://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"


@dataclass(frozen=True)
class Ports:
    """Where the profile listens (the tests run a private profile on free ports)."""

    balancer: int = 8000
    stats: int = 8404  # HAProxy's statistics page (CSV at /stats;csv)
    fronts: tuple[int, ...] = (8001, 8002)


#: How long a worker of the profile must stay alive after its start to count as started.
WORKER_SETTLE = 2.0


def cluster_url(redis_url: str) -> str:
    """The cluster the profile runs: the configured one if it is a cluster URL."""
    return redis_url if is_cluster_url(redis_url) else DEFAULT_CLUSTER_URL


class RedisNode(RedisService):
    """One master of the local cluster: a Redis server with ``cluster-enabled yes``."""

    def __init__(self, address: Address, data_dir: Path, appendfsync: str) -> None:
        super().__init__(
            f"redis://{address}",
            address,
            data_dir,
            name=f"redis-{address.port}",
            home=data_dir / "redis-cluster" / str(address.port),
            appendfsync=appendfsync,
        )

    def config(self) -> str:
        return super().config() + "\n".join(
            [
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                "cluster-node-timeout 5000",
                # a master that is down must not make the rest of the cluster refuse its slots
                "cluster-require-full-coverage no",
                "",
            ]
        )


class RedisClusterService(Service):
    """Three :class:`RedisNode` masters; ``start`` joins them and assigns the slots in three
    ranges when the cluster has none yet (a restart reuses each node's nodes.conf)."""

    name = "redis-cluster"
    start_timeout = 60.0

    def __init__(self, url: str, data_dir: Path, appendfsync: str = "always") -> None:
        self.url = url
        seeds = cluster_seeds(url)
        self.nodes = [RedisNode(Address(h, p), data_dir, appendfsync) for h, p in seeds]
        super().__init__(self.nodes[0].address, data_dir)

    async def _info(self, node: RedisNode) -> dict[str, str] | None:
        text = await _cluster(node, "INFO")
        if text is None:
            return None
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    async def ready(self) -> bool:
        infos = [await self._info(node) for node in self.nodes]
        return all(
            i is not None
            and i.get("cluster_state") == "ok"
            and i.get("cluster_slots_assigned") == str(SLOTS)
            and i.get("cluster_known_nodes") == str(len(self.nodes))
            for i in infos
        )

    def owned_pid(self) -> int | None:
        pids = [node.owned_pid() for node in self.nodes]
        return pids[0] if all(pids) else None

    async def start(self) -> None:
        for node in self.nodes:
            if not await node.ready():
                await node.start()
        infos = [await self._info(node) for node in self.nodes]
        if all(i is not None and i.get("cluster_slots_assigned") == "0" for i in infos):
            await self._create()
        await wait_until(self.ready, self.start_timeout, "redis cluster", log=self.nodes[0].log)

    async def _create(self) -> None:
        """ADDSLOTSRANGE one third of the slots to each node, then CLUSTER MEET every other node
        from each (a full mesh at once: no waiting for gossip to introduce them)."""
        step = SLOTS // len(self.nodes)
        for index, node in enumerate(self.nodes):
            client = aioredis.Redis(host=node.address.host, port=node.address.port)
            try:
                for other in self.nodes:
                    if other is not node:
                        await client.execute_command(
                            "CLUSTER", "MEET", other.address.host, other.address.port
                        )
                low = index * step
                high = SLOTS - 1 if index == len(self.nodes) - 1 else low + step - 1
                await client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
            finally:
                await client.aclose()

    def stop(self) -> bool:
        stopped = [node.stop() for node in self.nodes]
        return any(stopped)

    async def status(self) -> Status:
        base = await super().status()
        masters = await self.masters()
        base.detail = base.detail or (
            f"{len(masters)} masters, {sum(m['slots'] for m in masters)} slots"  # type: ignore[misc]
        )
        return base

    async def masters(self) -> list[dict[str, object]]:
        """Each master as CLUSTER NODES reports it: address, slots held, up or not."""
        out: list[dict[str, object]] = []
        for node in self.nodes:
            text = await _cluster(node, "NODES")
            if text is None:
                out.append({"address": str(node.address), "up": False, "slots": 0})
                continue
            for line in text.splitlines():
                fields = line.split()
                if "myself" in fields[2] and "master" in fields[2]:
                    out.append({
                        "address": str(node.address),
                        "up": "fail" not in fields[2],
                        "slots": _slot_count(fields[8:]),
                    })  # fmt: skip
        return out


async def _cluster(node: RedisNode, subcommand: str) -> str | None:
    """``CLUSTER <subcommand>`` on one node, as text; None when the node does not answer."""
    client = aioredis.Redis(host=node.address.host, port=node.address.port,
                            socket_connect_timeout=1, socket_timeout=2)  # fmt: skip
    try:
        raw = await client.execute_command("CLUSTER", subcommand)
    except (RedisError, OSError):
        return None
    finally:
        await client.aclose()
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _slot_count(ranges: Sequence[str]) -> int:
    total = 0
    for item in ranges:
        if item.startswith("["):  # a slot being migrated
            continue
        low, _, high = item.partition("-")
        total += int(high or low) - int(low) + 1
    return total


class ProcessService(Service):
    """One flashsale process of the profile (``flashsale serve``, ``writer``, ``fulfill``,
    ``relay``, ``sweeper``). A front is ready when it answers ``/api/ping``; a worker when its
    process is alive (its consumer group membership is in ``stack status --json``)."""

    start_timeout = 60.0

    def __init__(
        self, name: str, argv: Sequence[str], data_dir: Path, env: Mapping[str, str],
        port: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(
            Address("127.0.0.1", port or 0), data_dir, name=name, home=data_dir / "cluster" / name
        )
        self.argv = [sys.executable, "-m", "flashsale", *argv]
        self.env = env
        self.port = port

    async def ready(self) -> bool:
        if self.port is None:
            return self.owned_pid() is not None
        return await _http_ok(f"http://{self.address}/api/ping")

    def launch(self) -> int:
        """Start the process without waiting for it (a restart in a test); its pid."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return spawn(self.argv, self.log, self.pidfile, env=dict(self.env))

    async def start(self) -> None:
        self.launch()
        if self.port is None:  # a worker: it must survive its start-up (settings, connections)
            await asyncio.sleep(WORKER_SETTLE)
        await self.wait_started()


class HAProxyService(Service):
    """HAProxy in front of the fronts: round robin, a health check of ``GET /api/ping`` every
    second (two failures take a front out, one success brings it back), and a retry on another
    front when a connection fails or a front dies before answering. Retrying a POST is safe
    here: a reservation carries its Idempotency-Key and a payment its payment id, so a second
    delivery answers the first outcome (invariant 5)."""

    name = "haproxy"
    start_timeout = 20.0

    def __init__(self, data_dir: Path, fronts: Sequence[Address], ports: Ports) -> None:
        super().__init__(
            Address("127.0.0.1", ports.balancer), data_dir, home=data_dir / "cluster" / "haproxy"
        )
        self.fronts = list(fronts)
        self.stats = f"http://127.0.0.1:{ports.stats}/stats;csv"
        self.stats_port = ports.stats

    def config(self) -> str:
        servers = "\n".join(
            f"    server front-{i} {a} check inter 1s fall 2 rise 1"
            for i, a in enumerate(self.fronts, 1)
        )
        return f"""global
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
    retry-on conn-failure empty-response response-timeout

frontend shoppers
    bind {self.address}
    default_backend fronts

backend fronts
    balance roundrobin
    option httpchk GET /api/ping
    http-check expect status 200
{servers}

frontend stats
    bind 127.0.0.1:{self.stats_port}
    stats enable
    stats uri /stats
"""

    async def ready(self) -> bool:
        return await _http_ok(self.stats)

    async def start(self) -> None:
        binary = _packages.ensure("haproxy", "haproxy", search=("/usr/sbin",))
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "haproxy.cfg"
        conf.write_text(self.config())
        spawn([binary, "-db", "-f", str(conf)], self.log, self.pidfile)
        await self.wait_started()

    async def backends(self) -> list[dict[str, str]]:
        """The fronts as HAProxy sees them: name and health (UP/DOWN/...)."""
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                text = (await client.get(self.stats)).text
        except httpx.HTTPError:
            return []
        header, *rows = text.lstrip("# ").splitlines()
        names = header.split(",")
        out = []
        for row in rows:
            item = dict(zip(names, row.split(","), strict=False))
            if item.get("pxname") == "fronts" and item.get("svname") not in ("FRONTEND", "BACKEND"):
                out.append({"name": item["svname"], "status": item.get("status", "")})
        return out


async def _http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def profile(
    redis_url: str,
    data_dir: Path,
    appendfsync: str,
    ports: Ports = Ports(),
    env: Mapping[str, str] | None = None,
    args: Mapping[str, Sequence[str]] | None = None,
) -> list[Service]:
    """The cluster profile's services in start order (the Redis Cluster first, HAProxy last).
    ``env`` is the processes' environment (default: ours) with FLASHSALE_REDIS_URL set to the
    cluster; ``args`` adds options per command (``{"fulfill": ["--lease", "3"]}``)."""
    url = cluster_url(redis_url)
    env = {**(os.environ if env is None else env), "FLASHSALE_REDIS_URL": url}
    extra = args or {}

    def process(name: str, kind: str, *argv: str, port: int | None = None) -> ProcessService:
        return ProcessService(name, [kind, *argv, *extra.get(kind, ())], data_dir, env, port=port)

    fronts = [
        process(f"front-{i}", "serve", "--port", str(port), port=port)
        for i, port in enumerate(ports.fronts, 1)
    ]
    workers = [process(f"{kind}-{i}", kind) for kind in ("writer", "fulfill") for i in (1, 2)]
    return [
        RedisClusterService(url, data_dir, appendfsync),
        *fronts,
        *workers,
        process("relay", "relay"),
        process("sweeper", "sweeper"),
        HAProxyService(data_dir, [f.address for f in fronts], ports),
    ]


async def topology(services: Sequence[Service], settings: Settings) -> dict[str, object]:
    """The profile as ``stack status --json`` reports it."""
    redis = next(s for s in services if isinstance(s, RedisClusterService))
    balancer = next(s for s in services if isinstance(s, HAProxyService))
    prefix = settings.topic_prefix  # the deployment's own consumer groups
    return {
        "redis": {"mode": "cluster", "url": redis.url, "masters": await redis.masters()},
        "balancer": {"address": str(balancer.address), "fronts": await balancer.backends()},
        "groups": await consumer_groups(
            settings, [writer_group(prefix), fulfillment_group(prefix)]
        ),
    }


async def consumer_groups(settings: Settings, groups: list[str]) -> dict[str, object]:
    """Each group's state and members (member ids), as Kafka's group coordinator reports them.
    One group per request: aiokafka 0.14 decodes a DescribeGroups v3 answer with the v2 layout,
    which only holds for a single group."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000, client_id="stack"
    )
    out: dict[str, object] = {}
    try:
        await admin.start()
        for name in groups:
            [response] = await admin.describe_consumer_groups([name])
            _error, group_id, state, _ptype, _protocol, members, *_ = response.groups[0]
            out[group_id] = {
                "state": state,
                "members": sorted(
                    ({"id": m[0], "partitions": _assigned(m[4])} for m in members),
                    key=lambda m: str(m["id"]),
                ),
            }
    except (KafkaError, OSError, ValueError) as exc:
        return {"error": type(exc).__name__}
    finally:
        await admin.close()
    return out


def _assigned(raw: bytes) -> dict[str, list[int]]:
    """The partitions a member holds, from its assignment bytes (empty while rebalancing)."""
    if not raw:
        return {}
    try:
        decoded = ConsumerProtocolMemberAssignment.decode(raw)
    except ValueError:
        return {}
    return {topic: sorted(parts) for topic, parts in decoded.assignment}
