"""PostgreSQL: versioned SQL migrations and the connection pool.

Migrations are ``migrations/NNNN_name.sql`` files applied in order, each in its own transaction,
recorded in ``schema_migrations`` with a checksum; a concurrent migrator waits on an advisory lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import asyncpg

from flashsale.core.retry import Backoff

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x666C617368  # "flash"
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
log = logging.getLogger(__name__)


def record_dict(record: asyncpg.Record) -> dict[str, Any]:
    """A row as a JSON-ready dict: its timestamps as ISO 8601 strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted PostgreSQL identifier, for the few statements that cannot
    take parameters (``CREATE ROLE``, ``CREATE DATABASE``, ``DROP DATABASE``). Only plain names
    (letters, digits, ``_``, ``-``; at most 63) are accepted, so the result is always one
    identifier; anything else is a :class:`ValueError`."""
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name):
        raise ValueError(f"not a plain PostgreSQL name: {name!r}")
    return '"' + name + '"'


class MigrationError(Exception):
    """A migration file is malformed or an applied one was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("flashsale.core.db").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply pending migrations; return the ones applied now (empty when up to date)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        done = []
        for migration in available():
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it "
                        "was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, attempts: int = 5
) -> asyncpg.Pool:
    """Connect with bounded retries (arq's create_pool), then fail with a clear error."""
    for attempt in range(1, attempts + 1):
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == attempts:
                raise ConnectionError(
                    f"PostgreSQL unreachable after {attempts} attempts: {exc}"
                ) from exc
            log.warning("PostgreSQL connect attempt %d/%d failed: %s", attempt, attempts, exc)
            await asyncio.sleep(Backoff(attempts, first=0.5, cap=5.0).delay(attempt))
    raise AssertionError("unreachable")
