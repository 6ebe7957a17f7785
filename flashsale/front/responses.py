"""JSON responses: a msgspec Struct is encoded by msgspec, anything else by orjson."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from starlette.responses import JSONResponse as _JSONResponse


class JSONResponse(_JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, msgspec.Struct):
            return msgspec.json.encode(content)
        return orjson.dumps(content)
