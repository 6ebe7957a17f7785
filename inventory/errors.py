"""Errors of the inventory package. One tree; every error has a stable string ``code``.

::

    InventoryError            code="inventory_error"
    ├── RoundNotArmed         code="round_not_armed"        the round has no state in Redis
    ├── InvalidRequest        code="invalid_request"        bad arguments (status, units, ...)
    ├── Refused               code=<a refusal code>         a reservation answered "no"
    └── InventoryUnavailable  code="inventory_unavailable"  Redis unreachable / timed out
        └── ScriptFailed      code="script_failed"          a script raised (a bug, not load)

A refusal of a reservation is normally *returned* (``ReserveResult.code``, one of
:data:`REFUSAL_CODES`); ``ReserveResult.raise_for_refusal()`` turns it into :class:`Refused` for
callers that prefer exceptions. ``retriable`` tells a caller whether the same call may succeed
later unchanged.
"""

from __future__ import annotations

from typing import Any

#: Reservation refusals (``ReserveResult.code``) and whether a later retry may succeed.
#: The retriable ones are never stored as an Idempotency-Key's outcome: ``sold_out`` is
#: transient (units come back when holds expire or are cancelled, or on a restock).
REFUSAL_CODES: dict[str, bool] = {
    "not_armed": True,
    "paused": True,
    "not_started": True,
    "ended": False,
    "channel_not_allowed": False,
    "agreement_outdated": False,
    "invalid_request": False,
    "idempotency_mismatch": False,
    "limit_reached": False,
    "number_choice_disabled": False,
    "number_taken": False,
    "number_unknown": False,
    "sold_out": True,
}

#: Payment confirmation answers other than success (``ConfirmResult.code``).
CONFIRM_CODES = ("unknown_order", "already_paid", "refund_required", "amount_mismatch")

#: Why a payment is not kept (``ConfirmResult.refund``, the ``reason`` of a refund):
#: late_payment (paid after the hold expired, units gone), duplicate_payment (the order was
#: already paid by another payment), amount_mismatch (not the order's amount due).
REFUND_REASONS = ("late_payment", "duplicate_payment", "amount_mismatch")


class InventoryError(Exception):
    code = "inventory_error"
    retriable = False

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class RoundNotArmed(InventoryError):
    code = "round_not_armed"


class InvalidRequest(InventoryError):
    code = "invalid_request"


class Refused(InventoryError):
    """A reservation refused with ``code`` (one of :data:`REFUSAL_CODES`)."""

    def __init__(self, code: str, message: str | None = None, **data: Any) -> None:
        super().__init__(message or f"reservation refused: {code}", **data)
        self.code = code
        self.retriable = REFUSAL_CODES.get(code, False)


class InventoryUnavailable(InventoryError):
    code = "inventory_unavailable"
    retriable = True


class ScriptFailed(InventoryUnavailable):
    code = "script_failed"
    retriable = False
