"""Deleting a finished round's Redis state (``checkout.pipeline.archive`` calls it once the round is
archived in PostgreSQL).

Every key of a round carries its hash tag, so :func:`round_keys` finds them all with one
``SCAN MATCH fs:{r:<id>}:*`` (inventory keys, relay ledger and parked entries, admission keys,
spent proof-of-work challenges) and ``purge.lua`` deletes them in one script — one slot, so it
runs the same on a Redis Cluster — but only if nothing happened since the archive was taken:
the outbox's last entry id must still be the one recorded then, the outbox empty with nothing
pending, and no hold open. Otherwise nothing is deleted and the reason is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from inventory.errors import InventoryUnavailable
from inventory.keys import RoundKeys
from inventory.scripts import script

_GLOB = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class Purged:
    ok: bool
    deleted: int
    reason: str = ""  # "changed" | "backlog" | "holds" when not ok


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pattern(round_id: str) -> str:
    """``SCAN MATCH`` pattern of every key of the round (glob characters escaped)."""
    return _GLOB.sub(r"\\\1", RoundKeys(round_id).key("")) + "*"


async def round_keys(redis: aioredis.Redis, round_id: str, count: int = 1000) -> list[str]:
    try:
        return sorted({_s(k) async for k in redis.scan_iter(match=pattern(round_id), count=count)})
    except RedisError as exc:
        raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc


async def outbox_last_id(redis: aioredis.Redis, round_id: str) -> str:
    """The id of the last entry ever added to the round's outbox ('' when there is no stream)."""
    try:
        info = await redis.xinfo_stream(RoundKeys(round_id).outbox)
    except ResponseError:
        return ""  # no such key
    except RedisError as exc:
        raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
    return _s(info["last-generated-id"])


async def purge(
    redis: aioredis.Redis,
    round_id: str,
    keys: list[str],
    expected_last_id: str,
    *,
    check: bool = False,
) -> Purged:
    """Delete ``keys`` (all of the round's hash tag) plus the inventory's own keys, atomically,
    if the outbox's last id is still ``expected_last_id`` and the round is settled; with
    ``check`` only tell whether it would (a bucketed round checks every bucket before it
    deletes any: one script per bucket's slot)."""
    own = RoundKeys(round_id).script_keys()
    prefix = RoundKeys(round_id).key("")
    extra = [k for k in keys if k not in own]
    if any(not k.startswith(prefix) for k in extra):
        raise ValueError(f"purge of round {round_id} was given another round's key")
    try:
        args = orjson.dumps({"last_id": expected_last_id, "check": check})
        reason, deleted = await script("purge")(redis, [*own, *extra], [round_id, args])
    except RedisError as exc:
        raise InventoryUnavailable(f"redis unavailable: {exc}", round_id=round_id) from exc
    reason = _s(reason)
    return Purged(ok=reason == "", deleted=int(deleted), reason=reason)
