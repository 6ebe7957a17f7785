"""PostgreSQL 15 from Debian: our own cluster under the data dir (run as postgres when root)."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from flashsale.core.db import quote_ident
from flashsale.stack import _packages
from flashsale.stack._process import StackError, wait_until
from flashsale.stack._service import Service

PG_BIN = ("/usr/lib/postgresql/15/bin",)


class PostgresService(Service):
    name = "postgres"
    start_timeout = 60.0

    def __init__(self, url: str, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.url = url
        parts = urlsplit(url)
        self.user = parts.username or "flashsale"
        self.database = (parts.path or "/flashsale").lstrip("/") or "flashsale"
        self.pgdata = self.dir / "data"
        self.sockets = self.dir / "run"

    async def ready(self) -> bool:
        try:
            conn = await asyncpg.connect(self.url, timeout=2)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        try:
            return await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()

    async def _server_ready(self) -> bool:
        """The server accepts a query as the bootstrap superuser (before our role exists)."""
        try:
            conn = await asyncpg.connect(
                host=self.address.host,
                port=self.address.port,
                user="postgres",
                database="postgres",
                timeout=2,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    def _run(self, argv: list[str]) -> None:
        """Run a PostgreSQL tool as the postgres user when we are root (initdb refuses root)."""
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(
                f"{' '.join(argv)} failed:\n{(result.stderr or result.stdout)[-2000:]}"
            )

    def _prepare_dirs(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for path in (self.pgdata, self.sockets):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (self.pgdata, self.sockets):
                os.chown(path, pg.pw_uid, pg.pw_gid)
            self.log.touch()
            os.chown(self.log, pg.pw_uid, pg.pw_gid)
            _make_traversable(self.dir)

    async def start(self) -> None:
        postgres = _packages.ensure("postgres", "postgresql-15", PG_BIN)
        bindir = str(Path(postgres).parent)
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                [
                    f"{bindir}/initdb",
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        options = (
            f"-c listen_addresses={self.address.host} -p {self.address.port} "
            f"-k {self.sockets} -c max_connections=300 -c shared_buffers=256MB"
        )
        self._run(
            [
                f"{bindir}/pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "start",
            ]
        )
        self._record_postmaster_pid()
        await wait_until(self._server_ready, self.start_timeout, "postgres", log=self.log)
        await self._ensure_role_and_database()
        await wait_until(self.ready, self.start_timeout, "postgres", log=self.log)

    def _record_postmaster_pid(self) -> None:
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        self.pidfile.write(pid)

    async def _ensure_role_and_database(self) -> None:
        conn = await asyncpg.connect(
            host=self.address.host, port=self.address.port, user="postgres", database="postgres"
        )
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", self.user):
                await conn.execute("CREATE ROLE " + quote_ident(self.user) + " LOGIN CREATEDB")
            if not await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            ):
                await conn.execute(
                    "CREATE DATABASE "
                    + quote_ident(self.database)
                    + " OWNER "
                    + quote_ident(self.user)
                )
        finally:
            await conn.close()

    def stop(self) -> bool:
        if self.owned_pid() is None:
            self.pidfile.clear()
            return False
        bindir = str(Path(_packages.ensure("postgres", "postgresql-15", PG_BIN)).parent)
        try:
            self._run([f"{bindir}/pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        except StackError:
            return super().stop()
        self.pidfile.clear()
        return True


def _make_traversable(path: Path) -> None:
    """The postgres user must reach the data dir through our (root-owned) parents."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
