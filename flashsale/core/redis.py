"""The one way processes open Redis: a blocking pool whose connections retry once or twice on
a dropped connection (a Redis restart leaves every pooled connection stale).

A retry re-sends a command whose reply was lost, so the command may run twice. That is safe
for everything we send: the inventory scripts are idempotent (reservations by Idempotency-Key,
confirmations by payment id, releases by order state), most of the rest are reads, and the
one-shot commands carry a token of the attempt so that their second run recognises the first:
the payment callback's replay mark (``SET NX GET`` of a per-call mark, checkout.payments), the
OTP send and verify scripts (flashsale.front.otp), the proof-of-work spend (``SET NX GET`` of the
Idempotency-Key, flashsale.front.admission.guard).
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def redis_client(url: str, *, max_connections: int = 64, wait: float = 5.0) -> aioredis.Redis:
    """A client owning its pool (``aclose()`` closes the pool); a burst waits up to ``wait``
    seconds for a free connection instead of failing."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=wait,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis.from_pool(pool)
