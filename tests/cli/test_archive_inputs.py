"""What an operator types into `order show` and `round archive` may be any text at all: it is
"no such order" / skipped, never an error, and nothing is written; the SCAN pattern of a round
matches only that round's keys."""

from __future__ import annotations

from typing import Any

import asyncpg
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from checkout.pipeline.archive import ArchiveConfig, Archiver
from flashsale.cli.orders import find_order
from flashsale.core.settings import Settings
from inventory import Inventory, RoundKeys
from inventory.purge import round_keys
from tests.support.cli import flashsale, refused
from tests.support.edge import Portal, texts


def test_any_text_is_no_such_order_and_no_such_round(settings: Settings) -> None:
    portal = Portal()

    async def open_all() -> tuple[aioredis.Redis, asyncpg.Pool, Inventory]:
        redis = aioredis.Redis.from_url(settings.redis_url)
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        assert pool is not None
        return redis, pool, Inventory(redis)

    redis, pool, inventory = portal.call(open_all())
    archiver = Archiver(settings, redis, pool, inventory, ArchiveConfig())
    try:
        count = "SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM round_archive)"
        before = portal.call(pool.fetchval(count))

        @hsettings(
            max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(value=st.one_of(texts(80), texts(20).map(lambda t: f"r{t}-1")))
        def check(value: str) -> None:
            assert portal.call(find_order(redis, pool, value)) is None
            outcome = portal.call(archiver.archive(value))
            assert outcome.state == "skipped", outcome

        check()
        assert portal.call(pool.fetchval(count)) == before  # nothing written
    finally:

        async def close_all() -> None:
            await inventory.aclose()
            await pool.close()
            await redis.aclose()

        portal.call(close_all())
        portal.close()


async def test_a_rounds_pattern_matches_only_its_keys(redis: aioredis.Redis, unique: str) -> None:
    mine, longer = f"p{unique}", f"p{unique}0"
    keys: dict[str, Any] = {
        RoundKeys(mine).meta: "1",
        RoundKeys(mine).key("pow:n*1"): "1",
        RoundKeys(longer).meta: "1",
        f"fs:{{r:{mine}}}x": "1",  # not under the round's prefix
    }
    await redis.mset(keys)
    try:
        assert await round_keys(redis, mine) == sorted(
            [RoundKeys(mine).meta, RoundKeys(mine).key("pow:n*1")]
        )
    finally:
        await redis.delete(*keys)


async def test_order_show_refuses_odd_ids_in_one_line(env: dict[str, str]) -> None:
    for odd in ("r\u202eabc-1", "abc-\u0661", "abc-1\n", "x" * 300):
        refused(await flashsale(env, "order", "show", odd), "no such order")
