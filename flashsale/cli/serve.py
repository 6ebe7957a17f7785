"""`flashsale serve`: the shopper front (Starlette on uvicorn with uvloop and httptools)."""

from __future__ import annotations

import click
import uvicorn


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (each batches its own reservations).",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the shopper API, storefront and dashboard.

    \b
    Examples:
      flashsale serve --port 8000 --workers 2
    """
    uvicorn.run(
        "flashsale.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        backlog=4096,
        timeout_graceful_shutdown=10,
        log_level="info",
    )
