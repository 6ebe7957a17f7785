"""Errors of the inventory package. One tree; every error has a stable string ``code``.

::

    InventoryError            code="inventory_error"
    ├── RoundNotArmed         code="round_not_armed"        the round has no state in Redis
    ├── InvalidRequest        code="invalid_request"        bad arguments (status, units, ...)
    └── InventoryUnavailable  code="inventory_unavailable"  Redis unreachable / timed out
        └── ScriptFailed      code="script_failed"          a script raised (a bug, not load)

A refusal of a reservation is not an error: it is *returned* (``ReserveResult.code``, a row of
:mod:`inventory.refusals`). ``retriable`` tells a caller whether the same call may succeed later
unchanged.
"""

from __future__ import annotations

from flashsale.core.errors import FlashsaleError

#: Payment confirmation answers other than success (``ConfirmResult.code``).
CONFIRM_CODES = ("unknown_order", "already_paid", "refund_required", "amount_mismatch")

#: Why a payment is not kept (``ConfirmResult.refund``, the ``reason`` of a refund):
#: late_payment (paid after the hold expired, units gone), duplicate_payment (the order was
#: already paid by another payment), amount_mismatch (not the order's amount due).
REFUND_REASONS = ("late_payment", "duplicate_payment", "amount_mismatch")


class InventoryError(FlashsaleError):
    code = "inventory_error"


class RoundNotArmed(InventoryError):
    code = "round_not_armed"


class InvalidRequest(InventoryError):
    code = "invalid_request"


class InventoryUnavailable(InventoryError):
    code = "inventory_unavailable"
    retriable = True


class ScriptFailed(InventoryUnavailable):
    code = "script_failed"
    retriable = False
