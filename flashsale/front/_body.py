"""Reading a JSON request body with a size bound and a nesting bound, before any parsing.

orjson refuses invalid UTF-8 and lone surrogates (also as ``\\ud800`` escapes), so every string
of a decoded body is valid Unicode; each such refusal is a 400 ``invalid_request``. What the
strings may contain is the business of :mod:`flashsale.core.text`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from flashsale.front.errors import ApiError

MAX_BODY = 16 * 1024
MAX_DEPTH = 8


async def json_body(
    request: Request, max_bytes: int = MAX_BODY, *, optional: bool = False
) -> dict[str, Any]:
    """The request's JSON object, or ApiError (413 too large, 415 wrong type, 400 malformed).
    With ``optional`` an empty body is ``{}``."""
    raw: bytes | None = None
    if optional and request.headers.get("content-length") in (None, "0"):
        raw = await bounded_body(request, max_bytes)
        if not raw:  # no body at all: whatever its declared type
            return {}
    ctype = request.headers.get("content-type", "")
    if ctype and not ctype.split(";", 1)[0].strip().lower().endswith(("/json", "+json")):
        raise ApiError("unsupported_media_type", "send the body as application/json")
    if raw is None:
        raw = await bounded_body(request, max_bytes)
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise ApiError("invalid_request", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError("invalid_request", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "body must be a JSON object")
    return data


async def bounded_body(request: Request, max_bytes: int = MAX_BODY) -> bytes:
    """The raw body, read no further than ``max_bytes`` (ApiError ``payload_too_large``)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        # ASCII digits only ("²".isdigit() is true and int() refuses it), and no more of them
        # than any accepted size has (int() of a 5000-digit string raises, too).
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError("invalid_request", "bad Content-Length header")
        significant = declared.lstrip("0") or "0"
        if len(significant) > 18 or int(significant) > max_bytes:
            raise ApiError("payload_too_large", f"body larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError("payload_too_large", f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(raw: bytes) -> int:
    """Maximum bracket nesting, ignoring brackets inside strings (bounded, linear scan)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
