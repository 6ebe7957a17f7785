"""Fixtures of the fault-injection suite: one private stack (Redis, PostgreSQL, Kafka on free
loopback ports under a tmp dir) and one set of `flashsale` processes for the whole suite; the
scenarios take turns breaking it. The shared stack is never touched. At the end of the session
a table of scenario → result is printed (whatever ``-s`` says; tests/support/faults_table.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from flashsale.core.db import migrate
from flashsale.core.settings import Settings
from flashsale.demo.setup import cli
from tests.faults._sale import RESULTS, Rig, settings_for
from tests.faults._stack import PrivateStack
from tests.support.faults_table import KEY

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = 12  # upper bound of sales in the suite (fulfillment stock is seeded for them)


@pytest.fixture(scope="session")
async def rig(base_settings: Settings, kafka_libs: Path) -> AsyncIterator[Rig]:
    libs = kafka_libs
    # Not under pytest's tmp root: a concurrent pytest session resets /tmp/pytest-of-<user> to
    # mode 0700, and the postgres user (PostgreSQL runs as postgres when we are root) must
    # traverse to its data dir for every restart.
    root = Path(tempfile.mkdtemp(prefix="flashsale-faults-"))
    os.chmod(root, 0o711)  # noqa: S103 - traverse only (no read) for the postgres user
    stack = PrivateStack.create(root / "stack", base_settings.kafka_version, libs)
    settings = settings_for(base_settings, stack, f"faults-{uuid.uuid4().hex[:8]}")
    private = {
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "FLASHSALE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FLASHSALE_TOPIC_PREFIX": settings.topic_prefix,
        "FLASHSALE_DATA_DIR": str(settings.data_dir),  # the same secrets as this session
    }
    env = {
        **os.environ,
        **private,
        "FLASHSALE_ADMIN_TOKEN": settings.admin_token.reveal(),
        "FLASHSALE_OPERATOR": "faults-marketer",
    }
    rig = Rig(settings, env, stack, root)
    with pytest.MonkeyPatch.context() as mp:
        # The demo's catalog setup runs the CLI with os.environ: point it at the private stack.
        for name, value in private.items():
            mp.setenv(name, value)
        try:
            await stack.start()
            conn = await asyncpg.connect(settings.database_url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
            n = str(SCENARIOS * 250)
            cli(env, "fulfillment", "seed", "--sims", n, "--numbers", n)
            rig.start_all()
            yield rig
        finally:
            rig.stop()
            stack.stop()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def fault_redis(rig: Rig) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(rig.settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def fault_pg(rig: Rig) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(rig.settings.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each outcome a scenario recorded rides in its report (see tests/support/faults_table.py)."""
    made = yield
    report = made.get_result()  # type: ignore[attr-defined]
    while RESULTS:
        outcome = RESULTS.pop(0)
        report.user_properties.append((KEY, {**asdict(outcome), "summary": outcome.summary()}))
