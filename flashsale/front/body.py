"""Reading a JSON request body into its typed Struct, with a size bound and a nesting bound first.

:func:`read` reads at most ``max_bytes`` (413 ``payload_too_large``), refuses another declared
content type (415 ``unsupported_media_type``) and JSON nested deeper than :data:`MAX_DEPTH`, then
decodes with ``msgspec.json.Decoder(kind)``. msgspec refuses invalid UTF-8 and lone surrogates
(also as ``\\ud800`` escapes), so every string of a decoded body is valid Unicode; what the
strings may contain is the business of :mod:`flashsale.core.text`, applied after decoding.

Every refusal is a 400 ``invalid_request``; a field's refusal names it (``field``) with the
message of the Struct's ``MESSAGES`` table, an unknown field is refused by name.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from flashsale.front.errors import ApiError

MAX_BODY = 16 * 1024
MAX_DEPTH = 8
T = TypeVar("T", bound=msgspec.Struct)

_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_FIELD = re.compile(r"- at `\$\.([A-Za-z_][A-Za-z0-9_]*)")
_MISSING = re.compile(r"^Object missing required field `([A-Za-z_][A-Za-z0-9_]*)`")


async def read(
    request: Request, kind: type[T], max_bytes: int = MAX_BODY, *, optional: bool = False
) -> T:
    """The request's body as ``kind``, or ApiError (413 too large, 415 wrong type, 400 invalid).
    With ``optional`` an empty body is ``kind()`` (every field has a default)."""
    raw = await json_bytes(request, max_bytes, optional=optional)
    if optional and not raw:
        return kind()
    return decode(raw, kind)


async def json_bytes(
    request: Request, max_bytes: int = MAX_BODY, *, optional: bool = False
) -> bytes:
    """The raw body of a JSON request, bounded in size and nesting (ApiError otherwise). With
    ``optional`` an absent body is ``b""``, whatever its declared type."""
    raw: bytes | None = None
    if optional and request.headers.get("content-length") in (None, "0"):
        raw = await bounded_body(request, max_bytes)
        if not raw:  # no body at all: whatever its declared type
            return raw
    ctype = request.headers.get("content-type", "")
    if ctype and not ctype.split(";", 1)[0].strip().lower().endswith(("/json", "+json")):
        raise ApiError("unsupported_media_type", "send the body as application/json")
    if raw is None:
        raw = await bounded_body(request, max_bytes)
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise ApiError("invalid_request", f"JSON nested deeper than {MAX_DEPTH} levels")
    return raw


def decode(raw: bytes, kind: type[T]) -> T:
    """``raw`` decoded as ``kind``; a refusal is ApiError ``invalid_request`` (see module doc)."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(raw)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise _refusal(raw, kind, str(exc)) from None
    except msgspec.DecodeError:
        raise ApiError("invalid_request", "body is not valid JSON") from None


def _refusal(raw: bytes, kind: type[Any], reason: str) -> ApiError:
    """The ApiError of a body msgspec refused (the slow path: only bad bodies come here)."""
    try:
        data = msgspec.json.decode(raw)  # the whole body, so bad JSON anywhere is said first
    except msgspec.DecodeError:
        return ApiError("invalid_request", "body is not valid JSON")
    if not isinstance(data, dict):
        return ApiError("invalid_request", "body must be a JSON object")
    if kind.__struct_config__.forbid_unknown_fields:
        unknown = data.keys() - set(kind.__struct_fields__)
        if unknown:
            name = sorted(unknown)[0]
            return ApiError("invalid_request", f"unknown field {name!r}", field=name)
    found = _FIELD.search(reason) or _MISSING.match(reason)
    if found is None:  # not expected: every field of our Structs has a name msgspec shows
        return ApiError("invalid_request", "body does not match its schema")
    field = found.group(1)
    messages: dict[str, str] = getattr(kind, "MESSAGES", {})
    return ApiError("invalid_request", messages.get(field, f"{field} is invalid"), field=field)


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
