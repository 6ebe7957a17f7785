"""Prometheus metrics of the front: ``GET /metrics``.

Multi-worker safe: ``flashsale serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder under
the data dir *before* uvicorn starts its workers (and before this module is imported), so every
worker's counters and histograms live in mmap'd files there and any worker answering ``/metrics``
sums them all (prometheus-client's multiprocess mode). Without the variable (tests, one process) the
default in-process registry is used.

Per request, :class:`MetricsMiddleware` costs a few dict operations: increments are tallied in
plain ints per worker (:class:`_Tally`) and added to the shared series at most
:data:`FLUSH_SECONDS` later, when this worker answers ``/metrics``, and at shutdown. (Each
multiprocess increment takes a lock, checks the pid and writes the mmap'd file: measured
≈ 5 µs per counter increment and ≈ 15 µs per histogram observation on the bench machine, a
quarter of a ``/api/ping``.) So a scrape sees every worker's requests up to one second late,
its own exactly; the series and their values are the same as with direct increments.

Figures read from shared state — stock left per round, outbox length, Kafka consumer lag,
shipments by state — are not per-worker counters: they are read when scraped (the round cache is
already in memory, the outbox lengths are one pipelined Redis call, lag and shipments come from
the ops sampler's short-lived cache), so they never double-count across workers.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from bisect import bisect_left
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
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flashsale.front.state import app_state

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Whether this process's values live in the multiprocess files: prometheus-client decides when
# it is first imported. `flashsale serve --workers 1` runs uvicorn in the CLI's own process,
# which imported it before the variable was set: its counters are in memory, not in files.
IN_FILES = values.ValueClass is not values.MutexValue

REQUESTS = Counter(
    "flashsale_http_requests_total",
    "HTTP requests by route template, method and status.",
    ("route", "method", "status"),
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY = Histogram(
    "flashsale_http_request_duration_seconds",
    "HTTP request latency by route template, method and status.",
    ("route", "method", "status"),
    buckets=LATENCY_BUCKETS,
)
RESERVATIONS = Counter(
    "flashsale_reservations_total",
    "Reservation answers by result code (reserved, replayed, sold_out, limit_reached, ...).",
    ("result",),
)


FLUSH_SECONDS = 1.0


class _Tally:
    """This worker's increments not yet added to the shared series (see the module doc)."""

    def __init__(self) -> None:
        self._counts: dict[Any, int] = {}  # counter child -> increments
        self._observed: dict[Any, list[float]] = {}  # histogram child -> [n per bucket, sum]
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def inc(self, child: Any) -> None:
        self._counts[child] = self._counts.get(child, 0) + 1
        if self._timer is None:
            self._schedule()

    def observe(self, child: Any, bounds: tuple[float, ...], amount: float) -> None:
        """Tally ``child.observe(amount)``; ``bounds`` are its upper bounds, +Inf last."""
        row = self._observed.get(child)
        if row is None:
            row = self._observed[child] = [0.0] * (len(bounds) + 1)
        row[bisect_left(bounds, amount)] += 1  # the first bucket whose bound >= amount
        row[-1] += amount
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: nothing would flush later
            self.flush()
            return
        self._timer = loop.call_later(FLUSH_SECONDS, self.flush)
        self._timer_loop = loop

    def flush(self) -> None:
        """Add everything tallied to the shared series now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        counts, observed = self._counts, self._observed
        self._counts, self._observed = {}, {}
        for child, n in counts.items():
            child.inc(n)
        for child, row in observed.items():
            # prometheus-client keeps a histogram child's per-bucket counts (not cumulative)
            # in _buckets and the sum in _sum; observe() adds 1 to one bucket and the amount
            # to the sum, as this does n at a time (tests/front/test_metrics_tally.py)
            child._sum.inc(row[-1])
            for value, times in zip(child._buckets, row[:-1], strict=True):
                if times:
                    value.inc(times)

    def loop_gone(self) -> None:
        """Forget a timer of an event loop that has stopped (tests run several loops)."""
        loop = self._timer_loop
        if self._timer is not None and loop is not None and loop.is_closed():
            self._timer = None


_TALLY = _Tally()
_LATENCY_BOUNDS = (*LATENCY_BUCKETS, math.inf)


def flush() -> None:
    """Add this worker's tallied increments to the shared series (scrapes, shutdown)."""
    _TALLY.loop_gone()
    _TALLY.flush()


class RequestMetrics:
    """The request counter and latency histogram, by route template, method and status."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record(self, route: str, method: str, status: int, started: float) -> None:
        """One answered request, begun at ``time.perf_counter()`` = ``started``."""
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            labels = (route, method, str(status))
            child = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
            self._children[key] = child
        _TALLY.inc(child[0])
        _TALLY.observe(child[1], _LATENCY_BOUNDS, time.perf_counter() - started)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._metrics = RequestMetrics()

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
            self._metrics.record(template, scope["method"], status, started)


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
            _TALLY.inc(RESERVATIONS.labels(code if isinstance(code, str) else "error"))
            raise
        if response.status_code < 300:
            _TALLY.inc(replayed if "idempotent-replayed" in response.headers else reserved)
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
        _TALLY.inc(child)
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
    flush()  # this worker's own increments, exactly
    if IN_FILES and os.environ.get(MULTIPROC_ENV):
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
