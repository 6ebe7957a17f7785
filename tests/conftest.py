"""Shared fixtures: the real Redis, PostgreSQL and Kafka of the local stack (`flashsale stack up`).

Each test session gets its own PostgreSQL database (created fresh, migrated, dropped at the end),
its own Kafka topic prefix and Redis database 9; tests use unique round/order ids so concurrent
sessions never see each other's data. Nothing here mocks a service.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from flashsale.core.db import migrate
from flashsale.core.settings import Settings

SESSION = uuid.uuid4().hex[:8]


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
async def settings(base_settings: Settings) -> AsyncIterator[Settings]:
    """Settings pointing at this session's own database, Redis db 9 and topic prefix."""
    test_db = f"flashsale_test_{SESSION}"
    admin = await asyncpg.connect(base_settings.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{test_db}"')
    finally:
        await admin.close()
    test = dataclasses.replace(
        base_settings,
        database_url=_with_path(base_settings.database_url, f"/{test_db}"),
        redis_url=_with_path(base_settings.redis_url, "/9"),
        topic_prefix=f"flashsale-test-{SESSION}",
    )
    conn = await asyncpg.connect(test.database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield test
    admin = await asyncpg.connect(base_settings.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{test_db}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def env(settings: Settings) -> dict[str, str]:
    """Environment for subprocesses (CLI, servers) that must use this session's services."""
    return {
        **os.environ,
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FLASHSALE_TOPIC_PREFIX": settings.topic_prefix,
        "FLASHSALE_DATA_DIR": str(settings.data_dir),
    }


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def pg_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=10)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def kafka_libs(base_settings: Settings) -> Path:
    """Kafka's jars for private brokers: the stack's, fetched with Maven if not there yet."""
    from flashsale.stack import Stack
    from flashsale.stack.kafka import KafkaService

    kafka = next(s for s in Stack(base_settings).services if isinstance(s, KafkaService))
    return kafka.fetch_jars()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for ids, topic names and keys."""
    return uuid.uuid4().hex[:10]
