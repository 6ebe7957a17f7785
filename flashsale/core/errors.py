"""The base every package's exception tree derives from (``catalog``, ``inventory``,
``fulfillment``, ``checkout.payments``, :mod:`flashsale.core.sink`).

An error carries a stable string ``code`` (a class attribute, optionally overridden for one
instance), ``retriable`` (whether the same call may succeed later unchanged), its ``message``
and structured ``data``.
"""

from __future__ import annotations

from typing import Any


class FlashsaleError(Exception):
    code = "error"
    retriable = False

    def __init__(self, message: str, code: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.data}
