"""Each round's admission options (waiting room, proof of work): stored in Redis, cached per
worker so the buy endpoint looks them up in memory. A change reaches every worker within
``policy_interval``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from flashsale.front.admission.keys import AdmissionKeys
from inventory.keys import ADMISSION_ROUNDS

FIELDS = ("room", "rate", "pow_bits")


@dataclass(frozen=True, slots=True)
class Policy:
    room: bool = False
    rate: int = 0
    pow_bits: int = 0

    @property
    def active(self) -> bool:
        return self.room or self.pow_bits > 0

    def as_dict(self) -> dict[str, Any]:
        return {"waiting_room": self.room, "rate": self.rate, "pow_bits": self.pow_bits}

    @classmethod
    def parse(cls, values: list[Any]) -> Policy:
        room, rate, bits = (int(v) if v is not None else 0 for v in values)
        return cls(room=room == 1, rate=rate, pow_bits=bits)


async def read(redis: aioredis.Redis, round_id: str) -> Policy:
    return Policy.parse(await redis.hmget(AdmissionKeys(round_id).options, FIELDS))  # type: ignore[misc]


async def write(redis: aioredis.Redis, round_id: str, policy: Policy) -> None:
    """Store the options and index the round so workers find it (one round trip; repeatable)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(
            AdmissionKeys(round_id).options,
            mapping={"room": int(policy.room), "rate": policy.rate, "pow_bits": policy.pow_bits},
        )
        if policy.active:
            pipe.sadd(ADMISSION_ROUNDS, round_id)
        else:
            pipe.srem(ADMISSION_ROUNDS, round_id)
        await pipe.execute()


class Policies:
    """This worker's view: round id → :class:`Policy`, for rounds with an option on."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self.active: dict[str, Policy] = {}

    def get(self, round_id: str) -> Policy | None:
        return self.active.get(round_id)

    async def refresh(self) -> None:
        members = await self._redis.smembers(ADMISSION_ROUNDS)  # type: ignore[misc]
        ids = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        if not ids:
            self.active = {}
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for rid in ids:
                pipe.hmget(AdmissionKeys(rid).options, FIELDS)
            replies = await pipe.execute()
        policies = {rid: Policy.parse(values) for rid, values in zip(ids, replies, strict=True)}
        self.active = {rid: p for rid, p in policies.items() if p.active}
