"""Private service namespaces for a test session or one test: a fresh PostgreSQL database
(migrated, dropped afterwards), Redis database 9 and a Kafka topic prefix of its own."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from flashsale.core.db import migrate
from flashsale.core.settings import Settings


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def private_services(base: Settings, name: str) -> AsyncIterator[Settings]:
    """Settings whose database (``flashsale_test_<name>``) and topics (``flashsale-test-<name>``)
    nobody else uses; the database is dropped on exit."""
    database = f"flashsale_test_{name}"
    admin = await asyncpg.connect(base.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    own = dataclasses.replace(
        base,
        database_url=with_path(base.database_url, f"/{database}"),
        redis_url=with_path(base.redis_url, "/9"),
        topic_prefix=f"flashsale-test-{name}",
    )
    try:
        conn = await asyncpg.connect(own.database_url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield own
    finally:
        admin = await asyncpg.connect(base.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()


def service_env(settings: Settings) -> dict[str, str]:
    """Environment for subprocesses (CLI, servers) that must use these services."""
    return {
        **os.environ,
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FLASHSALE_TOPIC_PREFIX": settings.topic_prefix,
        "FLASHSALE_DATA_DIR": str(settings.data_dir),
    }
