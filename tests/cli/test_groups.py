"""Each deployment's processes join its own consumer groups: `flashsale writer`, `fulfill` and
`reconcile` default to ``<topic prefix>-writer`` / ``-fulfillment`` (before, every prefix shared
``flashsale-writer``, so two test sessions on one broker rebalanced each other's consumers and
a group's member count spanned both)."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson

from flashsale.core import kafka
from flashsale.core.settings import Settings
from tests.support import FLASHSALE
from tests.support.cli import cli
from tests.support.fulfillment import private
from tests.support.groups import member_client_ids
from tests.support.pipeline import eventually, order_count, produce, reserved
from tests.support.processes import stop


async def _spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        FLASHSALE,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_processes_join_the_groups_of_their_topic_prefix(
    settings: Settings, env: dict[str, str], pg_pool: asyncpg.Pool, unique: str
) -> None:
    own = await private(settings, unique)
    penv = {**env, "FLASHSALE_TOPIC_PREFIX": own.topic_prefix}
    r = f"grp-{unique}"
    await produce(own, [reserved(r, n) for n in range(1, 6)])
    writer = await _spawn(penv, "writer")
    fulfill = await _spawn(penv, "fulfill", "--track-every", "60")
    try:
        assert kafka.writer_group(own.topic_prefix) == f"{own.topic_prefix}-writer"
        assert await member_client_ids(own, f"{own.topic_prefix}-writer") == [kafka.WRITER]
        fulfillers = await member_client_ids(own, f"{own.topic_prefix}-fulfillment", 300)
        assert fulfillers == [kafka.FULFILLMENT], await stop(fulfill)

        async def written() -> bool:
            return await order_count(pg_pool, r) == 5

        await eventually(written)

        async def caught_up() -> bool:  # reconcile reads the lag of the same group
            _rc, out = await cli(penv, "reconcile", r, "--json")
            return orjson.loads(out)["kafka_lag"] == 0

        await eventually(caught_up, within=30, every=0.5)
    finally:
        rc_w, out_w = await stop(writer)
        rc_f, out_f = await stop(fulfill)
    assert rc_w == 0, out_w
    assert rc_f == 0, out_f
    # the default deployment keeps its historical names (committed offsets stay valid)
    assert kafka.writer_group(Settings.topic_prefix) == kafka.WRITER_GROUP == "flashsale-writer"
    assert kafka.fulfillment_group(Settings.topic_prefix) == "flashsale-fulfillment"
