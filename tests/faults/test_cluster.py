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
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from redis.crc import key_slot

from flashsale.core.kafka import fulfillment_group, writer_group
from flashsale.core.redis import redis_client
from flashsale.core.topics import ensure_topics
from flashsale.demo.setup import cli
from flashsale.stack.cluster import topology
from inventory import RoundKeys
from tests.faults._cluster import ClusterRig, until
from tests.faults._sale import RESULTS, Fault, Live, Outcome, Rig, run_sale
from tests.support.cluster import free_cluster_url
from tests.support.services import private_services

pytestmark = [pytest.mark.faults, pytest.mark.cluster, pytest.mark.timeout(180)]

SALES = 6  # upper bound of sales in this module (fulfillment stock is seeded for them)


@pytest.fixture(scope="module")
async def cluster(rig: Rig) -> AsyncIterator[ClusterRig]:
    """The cluster profile on the fault suite's private PostgreSQL (a database of its own)
    and Kafka (a topic prefix of its own)."""
    stack = rig.stack
    used = {stack.redis.address.port, stack.postgres.address.port, stack.kafka.address.port}
    async with private_services(rig.settings, f"cluster_{uuid.uuid4().hex[:8]}") as own:
        settings = dataclasses.replace(
            own, redis_url=free_cluster_url(used | {stack.kafka.address.port + 1})
        )
        private = {
            "FLASHSALE_REDIS_URL": settings.redis_url,
            "FLASHSALE_DATABASE_URL": settings.database_url,
            "FLASHSALE_TOPIC_PREFIX": settings.topic_prefix,
        }
        env = {**rig.env, **private}
        work = rig.work / settings.topic_prefix
        crig = ClusterRig(settings, env, stack, work)
        crig.seeds = iter(range(20_100, 21_000))
        with pytest.MonkeyPatch.context() as mp:
            for key, value in private.items():  # the demo's catalog set-up runs the CLI so
                mp.setenv(key, value)
            try:
                await ensure_topics(settings)
                n = str(SALES * 250)
                await asyncio.to_thread(
                    cli, env, "fulfillment", "seed", "--sims", n, "--numbers", n
                )
                await crig.start()
                yield crig
            finally:
                crig.stop()
                shutil.rmtree(work, ignore_errors=True)


async def _sale(cluster: ClusterRig, name: str, fault: Fault) -> Outcome:
    """One sale through HAProxy with ``fault`` in the middle; anything parked fails it too."""
    redis = redis_client(cluster.settings.redis_url)
    pool = await asyncpg.create_pool(cluster.settings.database_url, min_size=1, max_size=4)
    try:
        outcome = await run_sale(cluster, name, fault, redis=redis, pool=pool)
        parked = await pool.fetch(
            "SELECT process, reason, message FROM parked_events WHERE state = 'parked' "
            "AND created_at > now() - make_interval(secs => $1)",
            outcome.total_s + 5,
        )
    finally:
        await pool.close()
        await redis.aclose()
    outcome.problems += [f"parked by {r['process']}: {r['reason']} {r['message']}" for r in parked]
    outcome.passed = not outcome.problems
    RESULTS.append(outcome)
    assert outcome.passed, f"{outcome.scenario}: {outcome.problems} ({outcome.summary()})"
    return outcome


def cluster_fault(body: Callable[[ClusterRig, Live], Awaitable[None]]) -> Fault:
    """A fault on the cluster rig, timed from its start until ``body`` returns."""

    async def fault(live: Live) -> float:
        assert isinstance(live.rig, ClusterRig)
        began = time.monotonic()
        await body(live.rig, live)
        return time.monotonic() - began

    return fault


async def _nothing(live: Live) -> float:
    return 0.0


async def test_cluster_is_three_masters_behind_one_balancer(cluster: ClusterRig) -> None:
    """What ``stack status --json`` reports of the profile, once it has settled."""
    await until(lambda: _both(cluster), 20)  # both fronts pass HAProxy's health check
    await until(lambda: _members(cluster, 2), 60)  # both writers joined the group
    await until(lambda: _members(cluster, 2, fulfillment_group(cluster.settings.topic_prefix)), 60)
    seen = await topology(cluster.profile, cluster.settings)
    redis = seen["redis"]
    assert isinstance(redis, dict)
    assert redis["mode"] == "cluster"
    assert [m["up"] for m in redis["masters"]] == [True, True, True]
    assert sorted(m["slots"] for m in redis["masters"]) == [5461, 5461, 5462]
    balancer = seen["balancer"]
    assert isinstance(balancer, dict)
    assert balancer["fronts"] == [{"name": "front-1", "status": "UP"},
                                  {"name": "front-2", "status": "UP"}]  # fmt: skip
    groups = seen["groups"]
    assert isinstance(groups, dict)
    assert groups[writer_group(cluster.settings.topic_prefix)]["state"] == "Stable"


async def _members(cluster: ClusterRig, n: int, group: str | None = None) -> bool:
    group = group or writer_group(cluster.settings.topic_prefix)
    return await cluster.group_members(group) == n


async def test_sale_on_the_cluster(cluster: ClusterRig) -> None:
    out = await _sale(cluster, "cluster: sale", _nothing)
    assert out.acked > 0


@cluster_fault
async def _kill_master(rig: ClusterRig, live: Live) -> None:
    """SIGKILL the master that holds the round's slot, restart it on its AOF after 1 s."""
    slot = key_slot(RoundKeys(live.round_id).meta.encode())
    node = rig.node(min(2, slot // (16384 // 3)))  # the profile assigns three equal ranges
    await rig.kill_now(node.name)
    await asyncio.sleep(1.0)
    await node.start()
    await until(rig.redis_cluster.ready, 30)


async def test_cluster_master_killed_mid_sale(cluster: ClusterRig) -> None:
    await _sale(cluster, "cluster: kill a master", _kill_master)


@cluster_fault
async def _kill_front(rig: ClusterRig, live: Live) -> None:
    await rig.kill_now("front-1")
    await until(lambda: _only(rig, "front-2"), 15)  # the health check took it out
    rig.restart("front-1")
    await until(lambda: _both(rig), 30)


async def _only(rig: ClusterRig, name: str) -> bool:
    return await rig.fronts_up() == [name]


async def _both(rig: ClusterRig) -> bool:
    return sorted(await rig.fronts_up()) == ["front-1", "front-2"]


async def test_cluster_front_killed_behind_the_balancer(cluster: ClusterRig) -> None:
    await _sale(cluster, "cluster: kill a front", _kill_front)


@cluster_fault
async def _kill_writer(rig: ClusterRig, live: Live) -> None:
    rig.keep_down.add("writer-1")  # revive() leaves it down: the other writer takes over
    await rig.kill_now("writer-1")


async def test_cluster_writer_killed_its_partitions_move(cluster: ClusterRig) -> None:
    try:
        await _sale(cluster, "cluster: kill a writer", _kill_writer)
        # every acknowledged order reached PostgreSQL with one writer left in the group
        assert await cluster.group_members(writer_group(cluster.settings.topic_prefix)) == 1
    finally:
        cluster.keep_down.discard("writer-1")
        cluster.revive()
