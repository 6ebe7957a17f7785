"""`flashsale serve`: the shopper front (Starlette on uvicorn with uvloop and httptools, or on
Granian with ``--server granian``)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import click
import uvicorn

from flashsale.cli._signals import log_option
from flashsale.cli.common import opt, workers_option
from flashsale.core.logs import uvicorn_log_config
from flashsale.core.settings import Settings
from flashsale.core.supervision import SERVER_PID_ENV

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SERVERS = ("uvicorn", "granian")
DEFAULT_SERVER = "uvicorn"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def metrics_dir(data_dir: Path) -> Path:
    """A fresh folder for this server's Prometheus multiprocess files (folders of servers that
    are gone are removed). It must be in the environment before workers import
    prometheus-client, so it is set here, in the parent, before uvicorn starts."""
    root = data_dir / "prometheus"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("serve-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = root / f"serve-{int(time.time())}-{os.getpid()}"
    folder.mkdir()
    return folder


@click.command()
@opt("--host", default="127.0.0.1", help="Address to listen on.")
@opt("--port", default=8000, kind=click.IntRange(1, 65535), help="Port to listen on.")
@workers_option(1, "Worker processes (each batches its own reservations).")
@opt(
    "--access-log/--no-access-log",
    default=False,
    help="One JSON line per request (request id, route, status, ms).",
)
@log_option
@opt(
    "--app",
    "factory",
    default="flashsale.front.app:create_app",
    help="App factory (the bench serves its naive baseline beside the real routes).",
)
@opt(
    "--server",
    default=DEFAULT_SERVER,
    kind=click.Choice(SERVERS),
    help="ASGI server (`flashsale bench --server` compares them).",
)
def serve(
    host: str,
    port: int,
    workers: int,
    access_log: bool,
    log_level: str,
    factory: str,
    server: str,
) -> None:
    """Serve the shopper API, storefront (/), ops dashboard (/ops) and /metrics.

    Logs are JSON lines on stderr, with a request id, redacted of ID numbers and tokens.

    \b
    Examples:
      flashsale serve --port 8000 --workers 2
    """
    settings = Settings.from_env()
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = str(metrics_dir(settings.data_dir))
    os.environ["FLASHSALE_ACCESS_LOG"] = "1" if access_log else "0"
    os.environ[SERVER_PID_ENV] = str(os.getpid())  # its workers stop if this process dies
    if server == "granian":
        _granian(factory, host, port, workers, log_level)
        return
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # our own JSON access line carries the request id
        backlog=4096,
        timeout_graceful_shutdown=10,
        log_level=log_level,
        log_config=uvicorn_log_config(log_level),
    )


def _granian(factory: str, host: str, port: int, workers: int, log_level: str) -> None:
    """The same app on Granian (Rust HTTP, ASGI interface, uvloop), logging as uvicorn does."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    Granian(
        factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        backlog=4096,
        log_level=LogLevels(log_level),
        log_dictconfig=uvicorn_log_config(log_level),
        log_access=False,  # our own JSON access line carries the request id
        workers_kill_timeout=10,
        respawn_failed_workers=True,  # a worker that dies is replaced, as uvicorn does
        respawn_interval=0.5,
    ).serve()
