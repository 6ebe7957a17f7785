"""A front worker stops when the ``flashsale serve`` process that started it is gone.

Both servers run their workers as children of ``flashsale serve`` (uvicorn spawns them,
Granian forks them). When that process is killed (SIGKILL, the OOM killer), nothing stops the
workers: they go on serving its port with nobody to replace the ones that die, and a restarted
server shares the port with them. So ``serve`` puts its pid in the environment
(:data:`SERVER_PID_ENV`), and a worker that is not that process watches its parent: once the
parent is no longer the server, it sends itself SIGTERM (the server's graceful stop of a
worker: requests in hand are answered, batches flushed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from flashsale.core.retry import sleep_unless_stopped

log = logging.getLogger(__name__)
SERVER_PID_ENV = "FLASHSALE_SERVE_PID"


def serving_parent() -> int | None:
    """The pid of the ``flashsale serve`` process this process is a worker of, or None (not
    started by ``serve``, or the server's own process, as uvicorn with one worker)."""
    raw = os.environ.get(SERVER_PID_ENV, "")
    if not raw.isdigit() or int(raw) == os.getpid():
        return None
    return int(raw)


async def stop_when_orphaned(server: int, stop: asyncio.Event, every: float = 0.5) -> None:
    """Until ``stop``: SIGTERM this process once its parent is no longer ``server``."""
    while not stop.is_set():
        if os.getppid() != server:
            log.warning("the server process %d is gone: this worker stops", server)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        await sleep_unless_stopped(stop, every)
