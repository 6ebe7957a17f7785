"""Shared fixtures: the real Redis, PostgreSQL and Kafka of the local stack (`flashsale stack up`).

Each test session (each pytest-xdist worker) gets its own PostgreSQL database (created fresh,
migrated, dropped at the end), its own Kafka topic prefix and a Redis database leased for it
(flushed when taken and when given back); tests use unique round/order ids within a session.
Nothing here mocks a service.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from tests.support import faults_table
from tests.support.services import private_services, service_env

SESSION = uuid.uuid4().hex[:8]
FAULT_OUTCOMES: list[dict[str, Any]] = []  # from every worker's reports (tests/faults)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
async def settings(base_settings: Settings) -> AsyncIterator[Settings]:
    """Settings pointing at this session's own database, Redis database and topic prefix."""
    async with private_services(base_settings, SESSION) as own:
        yield own


@pytest.fixture(scope="session")
def env(settings: Settings) -> dict[str, str]:
    """Environment for subprocesses (CLI, servers) that must use this session's services."""
    return service_env(settings)


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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    FAULT_OUTCOMES.extend(faults_table.collected(report))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FAULT_OUTCOMES:
        faults_table.write(terminalreporter, FAULT_OUTCOMES)
