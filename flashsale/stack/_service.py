"""The shape every stack service shares: where it listens, how to tell it is ready, start, stop."""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flashsale.stack._process import PidFile, terminate, wait_until

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str, default_port: int) -> Address:
        parts = urlsplit(url if "://" in url else f"tcp://{url}")
        return cls(parts.hostname or "127.0.0.1", parts.port or default_port)

    @property
    def local(self) -> bool:
        return self.host in LOOPBACK

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" if self.port else "-"  # port 0: a worker, no listener


@dataclass
class Status:
    name: str
    address: str
    state: str  # "running" | "stopped"
    managed: bool  # started by `flashsale stack up` (we own its process)
    pid: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class Service(abc.ABC):
    name: str
    start_timeout: float = 60.0

    def __init__(
        self, address: Address, data_dir: Path, name: str | None = None, home: Path | None = None
    ) -> None:
        """``name`` overrides the class's (one of several processes of a kind); the service
        keeps its pid file and log in ``home`` (default ``data_dir/name``)."""
        self.address = address
        if name is not None:
            self.name = name
        self.dir = home or data_dir / self.name
        self.pidfile = PidFile(self.dir / "pid")
        self.log = self.dir / f"{self.name}.log"

    @abc.abstractmethod
    async def ready(self) -> bool:
        """True when the service answers a real request (not just an open port)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Install what is missing, start the process, wait until ready."""

    def owned_pid(self) -> int | None:
        return self.pidfile.alive_pid()

    async def wait_started(self) -> None:
        """Wait until :meth:`ready` (at most :attr:`start_timeout`), failing at once if the
        process we started exits (its log's tail in the error)."""
        await wait_until(
            self.ready,
            self.start_timeout,
            self.name,
            alive=lambda: self.owned_pid() is not None,
            log=self.log,
        )

    def stop(self) -> bool:
        """Stop the process we started; False if there was none."""
        pid = self.owned_pid()
        self.pidfile.clear()
        if pid is None:
            return False
        terminate(pid)
        return True

    async def status(self) -> Status:
        pid = self.owned_pid()
        up = await self.ready()
        return Status(
            self.name,
            str(self.address),
            "running" if up else "stopped",
            managed=pid is not None,
            pid=pid,
            detail="" if up or pid is None else "process alive but not answering",
        )
