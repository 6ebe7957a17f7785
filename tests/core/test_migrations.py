"""Versioned migrations: applied in order, recorded, idempotent, edits refused."""

from __future__ import annotations

import asyncpg
import pytest

from flashsale.core import db
from flashsale.core.settings import Settings


async def _schema(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public' ORDER BY 1, 2"""
    )
    return [tuple(r) for r in rows]


async def test_migrate_twice_changes_nothing(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        before = await _schema(conn)
        recorded = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY 1")
        assert [r["version"] for r in recorded] == [m.version for m in db.available()]
        assert await db.migrate(conn) == []
        assert await _schema(conn) == before
        assert (
            await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY 1")
            == recorded
        )
    finally:
        await conn.close()


async def test_versions_are_ordered_and_unique() -> None:
    versions = [m.version for m in db.available()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


async def test_edited_migration_is_refused(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
            with pytest.raises(db.MigrationError, match="changed after it was applied"):
                await db.migrate(conn)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    pass


async def test_concurrent_migrators_apply_each_migration_once(
    settings: Settings, unique: str
) -> None:
    import asyncio

    name = f"flashsale_mig_{unique}"
    admin = await asyncpg.connect(settings.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = settings.database_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        conns = [await asyncpg.connect(dsn) for _ in range(4)]
        results = await asyncio.gather(*(db.migrate(c) for c in conns))
        applied = sorted(m.version for r in results for m in r)
        assert applied == [m.version for m in db.available()]
        for c in conns:
            await c.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
