"""What the lifespan opens, shared by every request of one worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from checkout.payments import Callback, CallbackError, PaymentProvider
from checkout.pii import PiiKeys
from flashsale.core.settings import Settings
from flashsale.front.admission import Admission
from flashsale.front.routes.rounds import RoundCache
from inventory import Inventory, InventoryError

log = logging.getLogger(__name__)
CALLBACK_DELAY = 0.2  # seconds the simulated provider takes to confirm
Apply = Callable[["AppState", bytes, str], Awaitable[Any]]


@dataclass
class AppState:
    settings: Settings
    redis: aioredis.Redis
    inventory: Inventory
    rounds: RoundCache
    payments: PaymentProvider
    pii_keys: PiiKeys
    admission: Admission
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def deliver_later(self, callback: Callback, apply: Apply) -> None:
        """The simulated provider posts its signed callback a moment later."""
        task = asyncio.create_task(self._deliver(callback, apply))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, callback: Callback, apply: Apply) -> None:
        await asyncio.sleep(CALLBACK_DELAY)
        try:
            await apply(self, callback.body, callback.signature)
        except (CallbackError, InventoryError, aioredis.RedisError) as exc:
            log.warning("simulated payment callback not applied: %s", exc)

    async def drain(self, limit: float = 5.0) -> None:
        """Let scheduled callbacks finish (bounded), cancel the rest."""
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=limit)
        for task in late:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)
