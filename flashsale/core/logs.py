"""Structured JSON logs with a request id, and a redaction filter as the last line of defence.

- :func:`configure` installs one JSON handler on the root logger (and uvicorn's loggers), with
  :class:`RedactFilter` on the handler so every record passes through it, whoever logged it.
- :class:`RequestIdMiddleware` (pure ASGI, a few microseconds) takes ``X-Request-ID`` from the
  request when it is sane, else makes one; it is in every log line written while the request
  runs (a context variable) and sent back in the response's ``X-Request-ID``. With
  ``access_log=True`` it writes one JSON line per request (method, route, status, ms).

Code must not log ID numbers, tokens or secrets in the first place; the filter masks 18-character
PRC ID patterns, bearer tokens, ``Authorization`` values and JWT-like strings if one slips by.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import sys
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("flashsale.access")

_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,64}$")
_PREFIX = os.urandom(4).hex()
_counter = itertools.count(1)

# -- redaction -------------------------------------------------------------------------------

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Authorization: Bearer x", "authorization": "…", bearer tokens anywhere.
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+(\s+[^'\",\s}]+)?"),
        r"\1[REDACTED]",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]+"), r"\1[REDACTED]"),
    # JWT-like and our signed tokens: three dot-separated base64url parts.
    (re.compile(r"\b[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b"), "[TOKEN]"),
    # Secrets by name: token=…, secret: …, password=…, api_key …
    (
        re.compile(
            r"(?i)\b((?:admin_|access_|api_)?(?:token|secret|password|passwd|api_key|pii_key)"
            r"['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+"
        ),
        r"\1[REDACTED]",
    ),
    # PRC resident ID numbers: 17 digits and a check character, not part of a longer number.
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), "[ID]"),
)


def redact(text: str) -> str:
    """``text`` with ID numbers, bearer tokens, Authorization values and named secrets masked."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactFilter(logging.Filter):
    """Render the message (and any traceback) once, redacted; never drop a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# -- JSON formatting -------------------------------------------------------------------------

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message",
}  # fmt: skip


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            data["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in data and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        line = orjson.dumps(data, default=str).decode()
        return redact(line)  # extras are redacted too


def configure(level: str = "INFO", stream: Any = None) -> logging.Handler:
    """Send every log record (ours, uvicorn's) as redacted JSON lines to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    return handler


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config`` dict for ``uvicorn.run(log_config=...)``: JSON, redacted, stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }


# -- request ids -----------------------------------------------------------------------------


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_counter):x}"


class RequestIdMiddleware:
    """X-Request-ID in (when sane) or made here; out on every response; in every log line."""

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if _SANE_ID.match(value):
                    rid = value.decode()
                break
        if rid is None:
            rid = new_request_id()
        token = request_id.set(rid)
        raw = rid.encode()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, raw)]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                route = scope.get("route")
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": getattr(route, "path", None),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id.reset(token)
