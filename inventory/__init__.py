"""Round state in Redis: the atomic buy path (reserve, confirm, release, sweep) as Lua scripts.

Public surface: :class:`Inventory`, its request/answer types, :func:`run_sweeper`, the key
layout (:class:`RoundKeys`, :data:`ARMED_ROUNDS`), the error tree of :mod:`inventory.errors`, the
table of refusal codes (:mod:`inventory.refusals`) and the script loader (:mod:`inventory.scripts`).
"""

from inventory.errors import (
    CONFIRM_CODES,
    REFUND_REASONS,
    InvalidRequest,
    InventoryError,
    InventoryUnavailable,
    RoundNotArmed,
    ScriptFailed,
)
from inventory.keys import ARMED_ROUNDS, RoundKeys
from inventory.models import Amount, ConfirmResult, ReserveRequest, ReserveResult
from inventory.service import Inventory
from inventory.spec import RoundSpec, RoundStats
from inventory.sweeper import run_sweeper, sweep_all

__all__ = [
    "ARMED_ROUNDS",
    "CONFIRM_CODES",
    "REFUND_REASONS",
    "Amount",
    "ConfirmResult",
    "InvalidRequest",
    "Inventory",
    "InventoryError",
    "InventoryUnavailable",
    "ReserveRequest",
    "ReserveResult",
    "RoundKeys",
    "RoundNotArmed",
    "RoundSpec",
    "RoundStats",
    "ScriptFailed",
    "run_sweeper",
    "sweep_all",
]
