"""orjson responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _JSONResponse


class JSONResponse(_JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
