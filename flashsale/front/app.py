"""The Starlette app factory and its lifespan: one place that opens and closes every resource."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checkout import payments
from checkout.flow import Checkout, CheckoutError
from checkout.pii import PiiKeys
from checkout.purchase import InvalidPurchase
from flashsale.core.logs import RequestIdMiddleware
from flashsale.core.redis import redis_client
from flashsale.core.settings import Settings
from flashsale.core.supervision import serving_parent, stop_when_orphaned
from flashsale.front import errors, metrics
from flashsale.front import pages as web
from flashsale.front.admission import Admission, AdmissionConfig
from flashsale.front.lean import Front
from flashsale.front.openapi import openapi
from flashsale.front.routes import admission, login, orders, rounds
from flashsale.front.routes.dashboard import OpsSampler, dashboard, round_control
from flashsale.front.state import AppState, install
from inventory import Inventory, InventoryError

_PONG = b'{"ok":true}'


async def ping(request: Request) -> Response:
    """Constant, no I/O: the throughput ceiling for benchmarks."""
    return Response(_PONG, media_type="application/json")


async def _stop_task(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    # On timeout wait_for cancels it: a refresh stuck on Redis must not hold up shutdown.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task, 2)


def create_app(
    settings: Settings | None = None,
    *,
    access_log: bool | None = None,
    admission_config: AdmissionConfig | None = None,
) -> Starlette:
    """The front. ``access_log`` (default: ``FLASHSALE_ACCESS_LOG=1``, set by ``flashsale serve
    --access-log``) writes one JSON line per request. ``admission_config`` (default: from the
    environment) sets the rate limits of the buy endpoint."""
    settings = settings or Settings.from_env()
    admission_config = admission_config or AdmissionConfig.from_env(os.environ)
    if access_log is None:
        access_log = os.environ.get("FLASHSALE_ACCESS_LOG") == "1"

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(metrics.flush)  # last: this worker's tallied increments
            redis = redis_client(settings.redis_url, max_connections=256)
            stack.push_async_callback(redis.aclose)
            inventory = Inventory(redis)
            stack.push_async_callback(inventory.aclose)
            cache = rounds.RoundCache(redis, inventory)
            ops = OpsSampler(settings, redis, inventory, cache)
            stack.push_async_callback(ops.aclose)
            pii_keys = PiiKeys.derive(settings.pii_key)
            buying = Checkout(
                inventory,
                redis,
                pii_keys=pii_keys,
                payment_secret=settings.payment_secret,
                history=ops.pool,  # PostgreSQL, for orders of archived rounds
            )
            stack.push_async_callback(buying.aclose)
            state = AppState(
                settings=settings,
                redis=redis,
                inventory=inventory,
                rounds=cache,
                checkout=buying,
                pii_keys=pii_keys,
                admission=Admission(redis, admission_config, settings.token_secret),
                ops=ops,
            )
            stop = asyncio.Event()
            with contextlib.suppress(InventoryError, aioredis.RedisError, OSError):
                await cache.refresh()  # first view before the first request
            refresher = asyncio.create_task(cache.run(stop))
            stack.push_async_callback(_stop_task, refresher, stop)
            with contextlib.suppress(aioredis.RedisError, OSError):
                await state.admission.policies.refresh()  # round options before the first buy
            admitter = asyncio.create_task(state.admission.run(stop))
            stack.push_async_callback(_stop_task, admitter, stop)
            server = serving_parent()
            if server is not None:  # a worker of `flashsale serve`: stop if it is killed
                watcher = asyncio.create_task(stop_when_orphaned(server, stop))
                stack.push_async_callback(_stop_task, watcher, stop)
            install(app, state)
            yield

    # The hot route: first in the router's list, and answered by Front without the middleware
    # stack (flashsale/front/lean.py).
    buy = Route(
        "/api/rounds/{round_id}/orders",
        metrics.count_reservations(orders.create_order),
        methods=["POST"],
    )
    routes = [
        buy,
        Route("/api/ping", ping, methods=["GET"]),
        Route("/api/rounds", rounds.list_rounds, methods=["GET"]),
        Route("/api/rounds/{round_id}", rounds.get_round, methods=["GET"]),
        Route("/api/rounds/{round_id}/queue", admission.join_queue, methods=["POST"]),
        Route("/api/rounds/{round_id}/queue", admission.queue_status, methods=["GET"]),
        Route("/api/rounds/{round_id}/challenge", admission.challenge, methods=["GET"]),
        Route("/api/orders/{order_id}", orders.get_order, methods=["GET"]),
        Route("/api/orders/{order_id}/pay", orders.pay, methods=["POST"]),
        Route("/api/orders/{order_id}/cancel", orders.cancel, methods=["POST"]),
        Route("/api/payments/callback", orders.payment_callback, methods=["POST"]),
        Route("/api/auth/otp", login.send_code, methods=["POST"]),
        Route("/api/auth/verify", login.verify, methods=["POST"]),
        Route("/api/dev/sms", login.dev_sms, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/api/admin/dashboard", dashboard, methods=["GET"]),
        Route("/api/admin/rounds/{round_id}/{action}", round_control, methods=["POST"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        *web.routes,
    ]
    return Front(
        buy=buy,
        access_log=access_log,
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware, access_log=access_log),
            Middleware(metrics.MetricsMiddleware),
        ],
        exception_handlers={
            errors.ApiError: errors.api_error,
            HTTPException: errors.http_error,
            payments.PaymentError: errors.coded_error,
            InvalidPurchase: errors.coded_error,
            CheckoutError: errors.checkout_error,
            InventoryError: errors.inventory_error,
            Exception: errors.internal_error,
        },
    )
