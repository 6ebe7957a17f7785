"""The buy route without Starlette's per-request layers (issue 18).

A reservation through the full stack passes six ASGI layers before its handler runs (Starlette's
server-error layer, the request-id and metrics middlewares, the exception layer, the router and
the route's request/response wrappers), each a coroutine and most a ``send`` wrapper; in the
reserve profile they took a fifth of the worker's samples. :class:`Front` answers
``POST /api/rounds/{round_id}/orders`` with only what those layers do for it, in one place:

- the request id (the same :class:`~flashsale.core.logs.RequestIdMiddleware`, access log
  included),
- the request counter and latency histogram (:class:`~flashsale.front.metrics.RequestMetrics`,
  the series :class:`~flashsale.front.metrics.MetricsMiddleware` feeds),
- the route's endpoint (the reservation counter around ``create_order``), its exceptions turned
  into responses by the app's own exception handlers (found by the exception's class, as
  Starlette does), and a bug answered by the ``Exception`` handler then re-raised for the server
  to log, as Starlette's server-error layer does.

Matching is the buy :class:`~starlette.routing.Route`'s own (same pattern, same path
parameters), and that route is the first the router would try with that pattern, so every
request the shortcut takes is one the router would have given the same endpoint. Anything else
(other methods, paths, lifespan, an app with a body size limit) goes through the full stack.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from flashsale.core.logs import RequestIdMiddleware
from flashsale.front.metrics import RequestMetrics

Handler = Callable[[Request, Exception], Awaitable[Response]]


class Front(Starlette):
    """The front's app: a Starlette app whose buy route skips the middleware stack."""

    def __init__(self, *, buy: Route, access_log: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._buy_route = buy
        self._buy_template = buy.path
        self._endpoint: Callable[[Request], Awaitable[Response]] = buy.endpoint  # type: ignore[assignment]
        self._metrics = RequestMetrics()
        self._handlers: dict[type[BaseException], Handler | None] = {}
        self._buy = RequestIdMiddleware(self._buy_app, access_log=access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.max_body_size is None:
            match, child = self._buy_route.matches(scope)
            if match is Match.FULL:
                scope["app"] = self
                scope["router"] = self.router
                scope["route"] = self._buy_route
                scope.update(child)
                await self._buy(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        """The app's handler for ``exc`` (None: the ``Exception`` handler's case, a bug)."""
        if isinstance(exc, HTTPException):
            by_status = self.exception_handlers.get(exc.status_code)
            if by_status is not None:
                return by_status  # type: ignore[return-value]
        kind = type(exc)
        if kind not in self._handlers:
            self._handlers[kind] = _lookup(self.exception_handlers, kind)
        return self._handlers[kind]

    async def _buy_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        request = Request(scope, receive, send)
        try:
            try:
                response = await self._endpoint(request)
            except Exception as exc:
                handler = self._handler(exc)
                if handler is None:  # a bug: answered 500 by the app's handler, then raised
                    fallback = self.exception_handlers.get(Exception)
                    if fallback is not None:
                        answer = await fallback(request, exc)
                        status = answer.status_code
                        await _send(answer, send)
                    raise
                response = await handler(request, exc)
                exc.__traceback__ = None  # reused exception instances accumulate tracebacks
            status = response.status_code
            await _send(response, send)
        finally:
            self._metrics.record(self._buy_template, "POST", status, started)


def _lookup(handlers: Mapping[Any, Any], kind: type[BaseException]) -> Handler | None:
    """As Starlette's exception layer: the first class of ``kind``'s MRO with a handler; the
    ``Exception`` handler belongs to the server-error layer, so it is not a match here."""
    for cls in kind.__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]  # type: ignore[no-any-return]
    return None


async def _send(response: Response, send: Send) -> None:
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})  # fmt: skip
    await send({"type": "http.response.body", "body": response.body})
    if response.background is not None:
        await response.background()
