"""Prometheus metrics of the front: ``GET /metrics``.

Multi-worker safe: ``flashsale serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder under
the data dir *before* uvicorn starts its workers (and before this module is imported), so every
worker's counters and histograms live in mmap'd files there and any worker answering ``/metrics``
sums them all (prometheus-client's multiprocess mode). Without the variable (tests, one process) the
default in-process registry is used.

Per request, :class:`MetricsMiddleware` costs one dict lookup, one counter increment and one
histogram observation (children are cached per route/method/status; no ``labels()`` call).

Figures read from shared state — stock left per round, outbox length, Kafka consumer lag,
shipments by state — are not per-worker counters: they are read when scraped (the round cache is
already in memory, the outbox lengths are one pipelined Redis call, lag and shipments come from
the ops sampler's short-lived cache), so they never double-count across workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flashsale.front.state import app_state

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "flashsale_http_requests_total",
    "HTTP requests by route template, method and status.",
    ("route", "method", "status"),
)
LATENCY = Histogram(
    "flashsale_http_request_duration_seconds",
    "HTTP request latency by route template, method and status.",
    ("route", "method", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
RESERVATIONS = Counter(
    "flashsale_reservations_total",
    "Reservation answers by result code (reserved, replayed, sold_out, limit_reached, ...).",
    ("result",),
)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _child(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            labels = (route, method, str(status))
            child = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
            self._children[key] = child
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = route.path if route is not None else "unmatched"
            count, latency = self._child(template, scope["method"], status)
            count.inc()
            latency.observe(time.perf_counter() - started)


Endpoint = Callable[[Request], Awaitable[Response]]


def count_reservations(endpoint: Endpoint) -> Endpoint:
    """Wrap the reserve endpoint: count each answer by its result code (raised API errors,
    and refusals answered directly, such as the pre-encoded sold-out fast path)."""
    reserved = RESERVATIONS.labels("reserved")
    replayed = RESERVATIONS.labels("replayed")
    codes: dict[bytes, Any] = {}  # answer body -> counter child (refusal bodies are few)

    async def counted(request: Request) -> Response:
        try:
            response = await endpoint(request)
        except Exception as exc:
            code = getattr(exc, "code", None)
            RESERVATIONS.labels(code if isinstance(code, str) else "error").inc()
            raise
        if response.status_code < 300:
            (replayed if "idempotent-replayed" in response.headers else reserved).inc()
            return response
        child = codes.get(bytes(response.body))
        if child is None:
            try:
                code = orjson.loads(response.body)["error"]["code"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                code = f"http_{response.status_code}"
            child = RESERVATIONS.labels(str(code))
            if len(codes) < 64:
                codes[bytes(response.body)] = child
        child.inc()
        return response

    return counted


# -- scraping --------------------------------------------------------------------------------

Gauges = dict[str, tuple[str, list[tuple[dict[str, str], float]]]]


class _Live:
    """A one-shot collector for figures read at scrape time."""

    def __init__(self, gauges: Gauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (doc, samples) in self._gauges.items():
            labels = sorted({k for s, _ in samples for k in s})
            family = GaugeMetricFamily(name, doc, labels=labels)
            for sample_labels, value in samples:
                family.add_metric([sample_labels.get(k, "") for k in labels], value)
            yield family


def exposition(gauges: Gauges) -> bytes:
    """Counters/histograms of every worker plus the scrape-time gauges, in text format."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    live = CollectorRegistry()
    live.register(_Live(gauges))  # type: ignore[arg-type]
    return counters + generate_latest(live)


async def metrics(request: Request) -> Response:
    ops = app_state(request).ops
    gauges = await ops.gauges()
    return Response(exposition(gauges), media_type=CONTENT_TYPE_LATEST)
