"""Request headers the API reads beyond credentials: the buy request's ``Idempotency-Key``."""

from __future__ import annotations

import re

from starlette.datastructures import Headers

from flashsale.front.errors import ApiError

IDEMPOTENCY_KEY = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_\-:.]{8,64}", re.ASCII)


def idempotency_key(headers: Headers) -> str:
    """The request's Idempotency-Key (8-64 ASCII letters, digits, ``_-:.``), or ApiError."""
    key = headers.get("idempotency-key")
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            "invalid_request",
            "Idempotency-Key header required: 8-64 of A-Z a-z 0-9 _ - : .",
            field=IDEMPOTENCY_KEY,
        )
    return key
