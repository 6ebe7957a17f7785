"""Private service namespaces for a test session or one test: a fresh PostgreSQL database
(migrated, dropped afterwards), a Redis database leased for it (flushed before and after) and a
Kafka topic prefix of its own."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from flashsale.core.db import migrate
from flashsale.core.settings import Settings


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


#: Redis databases a test namespace may lease: 0 is the stack's own (demo, bench), 15 is left
#: empty for tests that need a database with nothing in it.
REDIS_DATABASES = range(1, 15)
LEASE_KEY = "flashsale-test:redis-db:{}"  # in database 0; the holder's name, with a TTL
LEASE_SECONDS = 3 * 3600  # longer than any session; a crashed one's lease runs out


@contextlib.asynccontextmanager
async def leased_redis_db(url: str, name: str) -> AsyncIterator[int]:
    """A Redis database of ``url``'s server nobody else uses while this lasts: leased in
    database 0 (SET NX with a TTL), flushed when taken and when given back. Everything a test
    namespace arms or stores stays in it, so no session reads what an earlier one left."""
    registry = aioredis.Redis.from_url(with_path(url, "/0"))
    try:
        for db in REDIS_DATABASES:
            if await registry.set(LEASE_KEY.format(db), name, nx=True, ex=LEASE_SECONDS):
                break
        else:
            raise RuntimeError(
                f"every Redis database {REDIS_DATABASES.start}-{REDIS_DATABASES.stop - 1} is "
                "leased by another test session"
            )
        own = aioredis.Redis.from_url(with_path(url, f"/{db}"))
        try:
            await own.flushdb()
            try:
                yield db
            finally:
                await own.flushdb()
        finally:
            await own.aclose()
            await registry.delete(LEASE_KEY.format(db))
    finally:
        await registry.aclose()


@contextlib.asynccontextmanager
async def private_services(base: Settings, name: str) -> AsyncIterator[Settings]:
    """Settings whose database (``flashsale_test_<name>``), Redis database (leased) and topics
    (``flashsale-test-<name>``) nobody else uses; the database is dropped on exit."""
    async with (
        leased_redis_db(base.redis_url, name) as db,
        _private_database(base, name, with_path(base.redis_url, f"/{db}")) as own,
    ):
        yield own


@contextlib.asynccontextmanager
async def _private_database(base: Settings, name: str, redis_url: str) -> AsyncIterator[Settings]:
    database = f"flashsale_test_{name}"
    admin = await asyncpg.connect(base.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    own = dataclasses.replace(
        base,
        database_url=with_path(base.database_url, f"/{database}"),
        redis_url=redis_url,
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
