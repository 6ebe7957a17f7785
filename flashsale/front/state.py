"""What the lifespan opens, shared by every request of one worker, and its typed accessor.

:func:`flashsale.front.app.create_app`'s lifespan builds one :class:`AppState` and keeps it on
the app; handlers read it with :func:`app_state` (typed: no attribute bag, no ``type: ignore``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request

from checkout.flow import Checkout
from checkout.pii import PiiKeys
from flashsale.core.settings import Settings
from flashsale.front.admission import Admission
from inventory import Inventory

if TYPE_CHECKING:  # route modules that read this state define these
    from flashsale.front.routes.dashboard import OpsSampler
    from flashsale.front.routes.rounds import RoundCache


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    redis: aioredis.Redis
    inventory: Inventory
    rounds: RoundCache
    checkout: Checkout
    pii_keys: PiiKeys
    admission: Admission
    ops: OpsSampler  # ops figures, and the lazily opened PostgreSQL pool


def state_of(app: Starlette) -> AppState:
    """The state the app's lifespan opened (RuntimeError outside it)."""
    state = getattr(app.state, "fs", None)
    if not isinstance(state, AppState):
        raise RuntimeError("the app's lifespan is not running")
    return state


def app_state(request: Request) -> AppState:
    return state_of(request.app)


def install(app: Starlette, state: AppState | None) -> None:
    """Keep ``state`` for the app's requests (None: the lifespan has ended)."""
    app.state.fs = state
