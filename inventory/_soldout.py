"""Per-worker sold-out knowledge: a sold-out round answers a new Idempotency-Key with no
round trip, and a key with a stored outcome (a retried success) still gets that outcome.

How both hold at once:

1. When the reserve script answers ``sold_out`` with nothing left, the worker takes the round's
   sold-out lease (``lua/sold_out.lua``; it is only granted while no unit is left). While a
   lease holds (Redis time), ``reserve.lua`` sells nothing and stores no outcome: it replays
   stored outcomes and answers everything else ``sold_out``. Units that come back meanwhile
   (expiry, cancellation, restock) are sold once the lease ends.
2. So the round's set of stored outcomes cannot change while the lease holds: the worker reads
   it once, fields only (``lua/stored_keys.lua``, a chunked HSCAN), then asks for the lease
   again. The same epoch means no gap: the set is complete.
3. Until the lease's end (the worker's clock, measured from *before* its call, so never later
   than Redis's), a request whose (buyer, key) is not in the set is answered ``sold_out`` here
   — exactly the script's answer — and one that is goes to the script for its replay.
4. A worker still answering from it extends the lease half-way through; extending fails once
   units are back, and everybody's knowledge runs out with the lease. A lease that lapsed
   starts a new epoch, so a worker reads the set again before using it.

The set holds ``hash()`` of each field: a collision only sends a request to the script.

No background task: the request that saw the sell-out learns the round (the others go on
meanwhile), and the one that finds the lease half-spent extends it (one round trip), each
inside its own call, so nothing outlives the caller's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inventory.keys import RoundKeys
from inventory.scripts import script

log = logging.getLogger(__name__)
SCAN_COUNT = 5000  # fields per step of the stored-outcome scan


@dataclass
class _Known:
    epoch: int
    until: float  # event-loop time the lease holds until (never later than Redis's end)
    stored: frozenset[int]
    extending: bool = field(default=False)


class SoldOutKnowledge:
    """What this worker knows about sold-out rounds (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis, lease_seconds: float) -> None:
        self._redis = redis
        self._lease = lease_seconds
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._known: dict[str, _Known] = {}
        self._learning: set[str] = set()

    async def answers(self, round_id: str, field_: str) -> bool:
        """True when ``sold_out`` is the answer for this (buyer, key) field: no I/O, but once
        per half lease (extending it)."""
        known = self._known.get(round_id)
        if known is None:
            return False
        loop = asyncio.get_running_loop()
        left = known.until - loop.time()
        if left < self._lease / 2 and not known.extending and left > 0:
            known.extending = True
            try:
                await self._extend(round_id, known)
            finally:
                known.extending = False
            left = known.until - loop.time()
        if left <= 0:
            if self._known.get(round_id) is known:
                del self._known[round_id]
            return False
        return hash(field_) not in known.stored

    def knows(self, round_id: str) -> bool:
        """True while this worker answers the round's new keys itself."""
        known = self._known.get(round_id)
        return known is not None and known.until > asyncio.get_running_loop().time()

    async def saw_sold_out(self, round_id: str) -> None:
        """The script answered sold_out with no unit left: learn the round (one caller does;
        the others return at once)."""
        if round_id in self._learning or self.knows(round_id):
            return
        self._known = {r: k for r, k in self._known.items() if self.knows(r)}  # drop lapsed
        self._learning.add(round_id)
        try:
            await self._learn(round_id)
        finally:
            self._learning.discard(round_id)

    def forget(self, round_id: str) -> None:
        """Stop answering for the round here (the script answers until its lease ends)."""
        self._known.pop(round_id, None)

    async def _lease_call(self, round_id: str) -> tuple[int, float, bool]:
        """(epoch, loop time the lease holds until, held) — the end measured from the send."""
        sent = asyncio.get_running_loop().time()
        epoch, remaining_ms, held = await script("sold_out")(
            self._redis, RoundKeys(round_id).script_keys(), [round_id, f'{{"ms":{self._lease_ms}}}']
        )
        return int(epoch), sent + int(remaining_ms) / 1000, bool(held)

    async def _stored(self, round_id: str) -> frozenset[int]:
        keys = RoundKeys(round_id).script_keys()
        found: set[int] = set()
        cursor = "0"
        while True:
            step = await script("stored_keys")(
                self._redis, keys, [round_id, f'{{"cursor":"{cursor}","count":{SCAN_COUNT}}}']
            )
            found.update(hash(f.decode()) for f in step[1:])
            cursor = step[0].decode()
            if cursor == "0":
                return frozenset(found)

    async def _learn(self, round_id: str) -> None:
        try:
            epoch, _, held = await self._lease_call(round_id)
            if not held:
                return  # units are back
            stored = await self._stored(round_id)
            again, until, held = await self._lease_call(round_id)
        except RedisError as exc:
            log.info("sold-out knowledge of %s not taken: %s", round_id, exc)
            return
        if held and again == epoch:
            self._known[round_id] = _Known(epoch, until, stored)

    async def _extend(self, round_id: str, known: _Known) -> None:
        try:
            epoch, until, held = await self._lease_call(round_id)
        except RedisError as exc:
            log.info("sold-out lease of %s not extended: %s", round_id, exc)
            return
        if held and epoch == known.epoch:
            known.until = max(known.until, until)

    def clear(self) -> None:
        """Forget every round (closing)."""
        self._known.clear()
