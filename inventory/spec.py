"""What arming loads into Redis for one round, and the figures read back from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROUND_STATUSES = ("scheduled", "live", "paused", "sold_out", "closed")
CHANNELS = ("web", "mobile", "sms")


@dataclass(frozen=True)
class RoundSpec:
    """A sale round as the buy path needs it (the catalog in PostgreSQL is the source of truth)."""

    round_id: str
    offer_id: str
    stock: int  # units stocked at creation (restocks are added separately, atomically)
    starts_at: datetime  # timezone-aware
    ends_at: datetime  # timezone-aware
    per_account_limit: int
    per_id_limit: int
    hold_seconds: int
    number_choice: bool
    channels: tuple[str, ...]
    status: str  # one of ROUND_STATUSES ("scheduled" and "live" both sell inside the window)
    agreement_version: str
    offer: dict[str, Any] = field(default_factory=dict)  # the snapshot kept with each order
    buckets: int = 1  # stock buckets (inventory/_buckets.py); 1 = one key space, no tokens


@dataclass(frozen=True)
class RoundStats:
    """Counters of one armed round, read from Redis in one round trip."""

    round_id: str
    stocked: int  # initial stock + restocks
    left: int  # units not held or sold
    held: int  # units in unpaid holds right now
    paid: int  # units paid
    released: int  # units returned by expiry or cancellation (each exactly once)
    refund_required: int  # orders paid too late with no stock left
    orders: int  # orders created (reservations acknowledged)
    sold_out_at_ms: int | None
    status: str
