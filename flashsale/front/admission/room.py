"""The waiting room of a round: join, look, and the admission token once admitted.

State lives in Redis under the round's hash tag and changes only inside ``lua/queue.lua``, so
every worker sees one queue and one admission cursor (no check-then-act from Python).
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from flashsale.core.settings import Secret
from flashsale.front import tokens
from flashsale.front.admission._lua import script
from flashsale.front.admission.keys import AdmissionKeys

RANDOM_SCORE_BITS = 52  # exact in a double, below the 2^52 base of late arrivals


@dataclass(frozen=True, slots=True)
class Place:
    """What a shopper may know of their place: ``state`` off | unknown | absent | before |
    queued | admitted; ``position`` (1 = next) and ``wait_ms`` only once the sale started."""

    state: str
    position: int | None = None
    wait_ms: int | None = None
    starts_in_ms: int | None = None
    length: int | None = None
    rate: float | None = None

    def view(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "position": self.position,
            "estimated_wait_ms": self.wait_ms,
            "starts_in_ms": self.starts_in_ms,
            "queue_length": self.length,
            "rate_per_second": self.rate,
        }


async def place(redis: aioredis.Redis, round_id: str, buyer: str, *, join: bool) -> Place:
    keys = AdmissionKeys(round_id)
    reply = await script("queue")(
        redis,
        [keys.options, keys.queue, keys.cursor, keys.meta],
        [buyer, "1" if join else "0", secrets.randbits(RANDOM_SCORE_BITS)],
    )
    state = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    if state in ("off", "unknown"):
        return Place(state)
    rank, cursor_milli, length, rate, starts, now = (int(x) for x in reply[1:])
    if state in ("absent", "before"):
        return Place(state, starts_in_ms=max(0, starts - now), rate=rate)
    if state == "admitted":
        return Place(state, position=0, wait_ms=0, starts_in_ms=0, length=length, rate=rate)
    needed = rank + 1 - cursor_milli / 1000  # admitted once the cursor passes rank + 1
    wait = max(1, math.ceil(needed * 1000 / rate)) if rate > 0 else None
    position = rank - cursor_milli // 1000 + 1
    return Place(state, position=position, wait_ms=wait, starts_in_ms=0, length=length, rate=rate)


def admission_token(secret: Secret, round_id: str, buyer: str, ttl: int) -> tuple[str, int]:
    """The signed, expiring, round- and buyer-bound pass the buy endpoint asks for."""
    token = tokens.issue(secret, buyer, ttl, typ="admission", round_id=round_id)
    return token, tokens.verify(secret, token, round_id=round_id, typ="admission").exp
