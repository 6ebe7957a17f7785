"""Past one machine (issue 15): live sales on the cluster profile — a 3-master Redis Cluster,
two fronts behind HAProxy, two writers and two fulfillers in their consumer groups — with the
fault suite's invariants checked after each (0 oversold, 0 lost acknowledged reservations, 0
duplicate orders or shipments, every paid order shipped, reconcile passing):

- a sale with nothing broken (the rounds of the module land on different masters);
- one Redis master SIGKILLed mid-sale and restarted on its AOF;
- one front SIGKILLed behind the balancer (HAProxy takes it out, shoppers' retries go to the
  other front), then restarted;
- one writer SIGKILLed and left down: its partitions move to the other writer of the group.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from flashsale.core.db import migrate
from flashsale.core.kafka import WRITER_GROUP
from flashsale.core.redis import redis_client
from flashsale.core.topics import ensure_topics
from flashsale.demo.setup import cli
from flashsale.stack.cluster import consumer_groups
from inventory import RoundKeys
from tests.faults._cluster import ClusterRig, until
from tests.faults._sale import RESULTS, Live, Outcome, Rig, run_sale
from tests.support.cluster import free_cluster_url
from tests.support.services import with_path

pytestmark = [pytest.mark.faults, pytest.mark.cluster, pytest.mark.timeout(180)]

SALES = 6  # upper bound of sales in this module (fulfillment stock is seeded for them)


@pytest.fixture(scope="module")
async def cluster(rig: Rig) -> AsyncIterator[ClusterRig]:
    """The cluster profile on the fault suite's private PostgreSQL and Kafka."""
    stack = rig.stack
    name = f"cluster_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    used = {stack.redis.address.port, stack.postgres.address.port, stack.kafka.address.port}
    settings = dataclasses.replace(
        rig.settings,
        redis_url=free_cluster_url(used | {stack.kafka.address.port + 1}),
        database_url=with_path(stack.database_url, f"/{name}"),
        topic_prefix=f"cluster-{uuid.uuid4().hex[:8]}",
        kafka_partitions=4,
    )
    private = {
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "FLASHSALE_TOPIC_PREFIX": settings.topic_prefix,
    }
    env = {**rig.env, **private}
    work = rig.work / name
    crig = ClusterRig(settings, env, stack, work)
    crig.seeds = iter(range(20_100, 21_000))
    with pytest.MonkeyPatch.context() as mp:
        for key, value in private.items():  # the demo's catalog set-up runs the CLI so
            mp.setenv(key, value)
        try:
            conn = await asyncpg.connect(settings.database_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
            await ensure_topics(settings)
            n = str(SALES * 250)
            await asyncio.to_thread(cli, env, "fulfillment", "seed", "--sims", n, "--numbers", n)
            await crig.start()
            yield crig
        finally:
            crig.stop()
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
async def cluster_redis(cluster: ClusterRig) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(cluster.settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def cluster_pg(cluster: ClusterRig) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(cluster.settings.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


async def _sale(
    cluster: ClusterRig, name: str, fault: object, redis: aioredis.Redis, pool: asyncpg.Pool
) -> Outcome:
    outcome = await run_sale(cluster, name, fault, redis=redis, pool=pool)  # type: ignore[arg-type]
    RESULTS.append(outcome)
    parked = await pool.fetch(
        "SELECT process, reason, message FROM parked_events WHERE state = 'parked' "
        "AND created_at > now() - make_interval(secs => $1)",
        outcome.total_s + 5,
    )
    outcome.problems += [f"parked by {r['process']}: {r['reason']} {r['message']}" for r in parked]
    outcome.passed = not outcome.problems
    assert outcome.passed, f"{outcome.scenario}: {outcome.problems} ({outcome.summary()})"
    return outcome


async def _nothing(live: Live) -> float:
    return 0.0


async def test_cluster_is_three_masters_behind_one_balancer(cluster: ClusterRig) -> None:
    masters = await cluster.redis_cluster.masters()
    assert [m["up"] for m in masters] == [True, True, True]
    assert sum(int(m["slots"]) for m in masters) == 16384  # type: ignore[call-overload]
    await until(lambda: _both(cluster), 20)  # both fronts pass HAProxy's health check
    try:
        await until(lambda: _members(cluster, 2), 60)  # both writers joined the group
    except AssertionError:
        logs = {n: cluster.service(n).log.read_text()[-800:] for n in ("writer-1", "writer-2")}
        found = await consumer_groups(cluster.settings, [WRITER_GROUP])
        raise AssertionError(f"writer group: {found}; logs: {logs}") from None


async def _members(cluster: ClusterRig, n: int) -> bool:
    return await cluster.group_members(WRITER_GROUP) == n


async def test_sale_on_the_cluster(
    cluster: ClusterRig, cluster_redis: aioredis.Redis, cluster_pg: asyncpg.Pool
) -> None:
    out = await _sale(cluster, "cluster: sale", _nothing, cluster_redis, cluster_pg)
    assert out.acked > 0


async def _kill_master(live: Live) -> float:
    """SIGKILL the master that holds the round's slot, restart it on its AOF after 1 s."""
    rig = live.rig
    assert isinstance(rig, ClusterRig)
    slot = key_slot(RoundKeys(live.round_id).meta.encode())
    node = rig.node(min(2, slot // (16384 // 3)))  # the profile assigns three equal ranges
    began = time.monotonic()
    await rig.kill_now(node.name)
    await asyncio.sleep(1.0)
    await node.start()
    await until(rig.redis_cluster.ready, 30)
    return time.monotonic() - began


async def test_cluster_master_killed_mid_sale(
    cluster: ClusterRig, cluster_redis: aioredis.Redis, cluster_pg: asyncpg.Pool
) -> None:
    await _sale(cluster, "cluster: kill a master", _kill_master, cluster_redis, cluster_pg)


async def _kill_front(live: Live) -> float:
    rig = live.rig
    assert isinstance(rig, ClusterRig)
    began = time.monotonic()
    await rig.kill_now("front-1")
    await until(lambda: _only(rig, "front-2"), 15)  # the health check took it out
    rig.restart("front-1")
    await until(lambda: _both(rig), 30)
    return time.monotonic() - began


async def _only(rig: ClusterRig, name: str) -> bool:
    return await rig.fronts_up() == [name]


async def _both(rig: ClusterRig) -> bool:
    return sorted(await rig.fronts_up()) == ["front-1", "front-2"]


async def test_cluster_front_killed_behind_the_balancer(
    cluster: ClusterRig, cluster_redis: aioredis.Redis, cluster_pg: asyncpg.Pool
) -> None:
    await _sale(cluster, "cluster: kill a front", _kill_front, cluster_redis, cluster_pg)


async def _kill_writer(live: Live) -> float:
    rig = live.rig
    assert isinstance(rig, ClusterRig)
    began = time.monotonic()
    rig.keep_down.add("writer-1")
    await rig.kill_now("writer-1")
    return time.monotonic() - began


async def test_cluster_writer_killed_its_partitions_move(
    cluster: ClusterRig, cluster_redis: aioredis.Redis, cluster_pg: asyncpg.Pool
) -> None:
    try:
        await _sale(cluster, "cluster: kill a writer", _kill_writer, cluster_redis, cluster_pg)
        # every acknowledged order reached PostgreSQL with one writer left in the group
        assert await cluster.group_members(WRITER_GROUP) == 1
    finally:
        cluster.keep_down.discard("writer-1")
        cluster.revive()
